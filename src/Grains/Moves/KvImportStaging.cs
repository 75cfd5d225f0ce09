using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Moves;

/// <summary>
/// The KV transfers arriving at this silo, part by part, until the last part completes one. Bounded: at most
/// <see cref="MaxTransfers"/> at a time and <paramref name="maxStagedBytes"/> in all, a transfer idle for
/// <see cref="StaleAfter"/> is dropped, and a part that does not follow the previous one ends its transfer. Plain and
/// single-threaded (the silo engine grain's scheduler).
/// </summary>
public sealed class KvImportStaging(long maxStagedBytes, TimeProvider time)
{
    public const int MaxTransfers = 64;
    public static readonly TimeSpan StaleAfter = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, Staged> _transfers = new(StringComparer.Ordinal);
    private long _stagedBytes;

    public int Count => _transfers.Count;

    public long StagedBytes => _stagedBytes;

    /// <summary>
    /// Takes a part. Returns the whole transfer once its last part arrived, null while it is incomplete; throws
    /// <see cref="InvalidOperationException"/> (and drops the transfer) when the part cannot be taken.
    /// </summary>
    public CompletedTransfer? Take(KvTransferPart part, string geometry)
    {
        ArgumentNullException.ThrowIfNull(part);
        DropStale();
        if (!_transfers.TryGetValue(part.SequenceId, out var staged) || staged.TransferId != part.TransferId)
        {
            if (staged is not null)
            {
                Drop(part.SequenceId);
            }

            staged = Begin(part, geometry);
        }

        if (part.Offset != staged.Received || part.Offset + part.Data.Length > staged.Buffer.Length)
        {
            Drop(part.SequenceId);
            throw new InvalidOperationException($"part at {part.Offset} does not follow the {staged.Received} bytes received");
        }

        part.Data.CopyTo(staged.Buffer, part.Offset);
        staged.Received += part.Data.Length;
        staged.LastPart = time.GetTimestamp();
        if (staged.Received < staged.Buffer.Length)
        {
            return null;
        }

        Drop(part.SequenceId);
        return new CompletedTransfer(part.SequenceId, staged.Tokens, staged.Buffer);
    }

    private Staged Begin(KvTransferPart part, string geometry)
    {
        if (part.Offset != 0 || part.Tokens is not { Count: > 0 } tokens)
        {
            throw new InvalidOperationException("a transfer starts with its first part, which carries the token ids");
        }

        if (!string.Equals(part.Geometry, geometry, StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"KV geometry '{part.Geometry}' is not this silo's ('{geometry}')");
        }

        if (part.TotalBytes <= 0 || part.TotalBytes > Array.MaxLength || _stagedBytes + part.TotalBytes > maxStagedBytes || _transfers.Count >= MaxTransfers)
        {
            throw new InvalidOperationException($"no room to stage {part.TotalBytes} bytes ({_stagedBytes} staged in {_transfers.Count} transfers)");
        }

        var staged = new Staged(part.TransferId, [.. tokens], GC.AllocateUninitializedArray<byte>((int)part.TotalBytes)) { LastPart = time.GetTimestamp() };
        _transfers[part.SequenceId] = staged;
        _stagedBytes += part.TotalBytes;
        return staged;
    }

    private void DropStale()
    {
        List<string>? stale = null;
        foreach (var (id, staged) in _transfers)
        {
            if (time.GetElapsedTime(staged.LastPart) > StaleAfter)
            {
                (stale ??= []).Add(id);
            }
        }

        foreach (var id in stale ?? [])
        {
            Drop(id);
        }
    }

    private void Drop(string sequenceId)
    {
        if (_transfers.Remove(sequenceId, out var staged))
        {
            _stagedBytes -= staged.Buffer.Length;
        }
    }

    private sealed class Staged(Guid transferId, int[] tokens, byte[] buffer)
    {
        public Guid TransferId { get; } = transferId;
        public int[] Tokens { get; } = tokens;
        public byte[] Buffer { get; } = buffer;
        public long Received { get; set; }
        public long LastPart { get; set; }
    }
}

/// <summary>A whole transfer: the sequence, its token ids and its KV bytes.</summary>
public sealed record CompletedTransfer(string SequenceId, int[] Tokens, byte[] Data);
