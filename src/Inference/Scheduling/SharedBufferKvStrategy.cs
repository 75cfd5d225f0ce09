using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The shared-buffer layout (GroupQueryAttention with past_present_share_buffer): a sequence's KV lives in a
/// one-row <see cref="KvBlock"/> with room to grow, on the model's device; a prefill chunk is written into it in
/// place, and a truncation only shortens the valid length (positions past it are overwritten before they are
/// read). Nothing is copied per step; KV moves only when a row joins or leaves the decode batch.
/// </summary>
internal sealed class SharedBufferKvStrategy : IKvStrategy
{
    /// <summary>Capacities are rounded up to this many tokens, so a block is not re-allocated for every turn.</summary>
    internal const int Granularity = 64;

    private readonly ModelRunner _runner;
    private readonly KvMemory _memory;
    private readonly KvCachePool _pool;
    private readonly SharedBufferDecodeBatch _batch;
    private readonly HostLogits _logits;
    private readonly StepInputs _inputs = new();

    /// <summary>Its blocks' memory is charged to <paramref name="pool"/>, and their headroom sized by what the budget leaves.</summary>
    public SharedBufferKvStrategy(ModelRunner runner, KvMemory memory, KvCachePool pool, int maxBatchSize)
    {
        _runner = runner;
        _memory = memory;
        _pool = pool;
        _batch = new SharedBufferDecodeBatch(runner, memory, pool, maxBatchSize);
        _logits = new HostLogits(runner.Manifest.VocabSize, runner.Manifest.LogitsMode == "last");
    }

    public IDecodeBatch Batch => _batch;

    public KvTraffic Traffic => new(_memory.DeviceName, _memory.BytesCopied, _memory.BytesAllocated);

    public IStepLogits Prefill(KvCacheHandle handle, ReadOnlySpan<int> chunk, int promptLength)
    {
        var past = handle.CachedTokenCount;
        var total = past + chunk.Length;
        var block = EnsureBlock(handle, total, promptLength);
        _inputs.Prefill(chunk, past);
        using var inputs = _inputs.Values();
        _runner.ForwardInPlace(inputs.InputIds, inputs.AttentionMask, inputs.PositionIds, block.Views(1), _logits.For(1, chunk.Length));
        return _logits;
    }

    public void Truncate(KvCacheHandle handle, int keep)
    {
        // The kept prefix is already in place; the caller shortens the token list, which is the valid length.
    }

    /// <summary>The block's valid prefix into a block of exactly its length, on the device; an empty handle's block just goes.</summary>
    public void Trim(KvCacheHandle handle)
    {
        var tokens = handle.CachedTokenCount;
        if (handle.Block is not { } block || block.Capacity <= tokens)
        {
            return;
        }

        if (tokens == 0)
        {
            handle.SetBlock(null);
            return;
        }

        var exact = _memory.Allocate(1, tokens);
        try
        {
            _memory.Copy(block, 0, 0, exact, 0, 0, tokens);
        }
        catch
        {
            exact.Dispose();
            throw;
        }

        handle.SetBlock(exact);
    }

    /// <summary>
    /// An idle sequence's KV is a one-row block on the model's device: the copy gets a block of its own (with the
    /// headroom a row leaving the batch gets, so the fork's next prefill writes in place) and the prefix moves
    /// block to block through <see cref="KvMemory.Copy"/>, on the device when the device is a GPU.
    /// </summary>
    public void CopyPrefix(KvCacheHandle source, KvCacheHandle target, int tokens)
    {
        var from = source.Block
            ?? throw new InvalidOperationException($"sequence {source.Id} caches {source.CachedTokenCount} tokens but holds no KV block");
        var block = _memory.Allocate(1, IdleCapacity(tokens));
        try
        {
            _memory.Copy(from, 0, 0, block, 0, 0, tokens);
        }
        catch
        {
            block.Dispose();
            throw;
        }

        target.SetBlock(block);
    }

    /// <summary>The handle's block row, head by head, to host memory (device to host on a GPU).</summary>
    public void Export(KvCacheHandle source, int tokens, Span<byte> destination)
    {
        var block = source.Block
            ?? throw new InvalidOperationException($"sequence {source.Id} caches {source.CachedTokenCount} tokens but holds no KV block");
        _memory.ReadRow(block, 0, tokens, destination);
    }

    /// <summary>
    /// A block of its own with the headroom a row leaving the batch gets (so the next turn's prefill writes in
    /// place, as on the exporter after its turn), filled from host memory (host to device on a GPU).
    /// </summary>
    public void Import(KvCacheHandle target, int tokens, ReadOnlySpan<byte> source)
    {
        var block = _memory.Allocate(1, IdleCapacity(tokens));
        try
        {
            _memory.WriteRow(source, block, 0, tokens);
        }
        catch
        {
            block.Dispose();
            throw;
        }

        target.SetBlock(block);
    }

    /// <summary>The handle's block, grown (valid prefix moved on the device) when it cannot hold <paramref name="total"/>.</summary>
    private KvBlock EnsureBlock(KvCacheHandle handle, int total, int promptLength)
    {
        if (handle.Block is { } block && block.Capacity >= total)
        {
            return block;
        }

        // Room for the whole prompt when the budget has it, so a chunked prefill does not grow the block per chunk.
        var capacity = Sized(_pool, total, CapacityFor(Math.Max(total, promptLength), _runner.Manifest.ContextLength),
            covered: true, replacing: handle.Block?.Bytes ?? 0);
        var grown = _memory.Allocate(1, capacity);
        if (handle.Block is { } old)
        {
            _memory.Copy(old, 0, 0, grown, 0, 0, handle.CachedTokenCount);
        }

        handle.SetBlock(grown);
        return grown;
    }

    internal static int CapacityFor(int tokens, int contextLength) =>
        Math.Min(contextLength, (tokens + Granularity - 1) / Granularity * Granularity);

    /// <summary>An idle sequence's block: its tokens, and room for the next turn's when the budget leaves it.</summary>
    private int IdleCapacity(int tokens) =>
        Sized(_pool, tokens, CapacityFor(tokens + SharedBufferDecodeBatch.LeaveHeadroom, _runner.Manifest.ContextLength));

    /// <summary>
    /// A one-row block's capacity: <paramref name="required"/> positions, and as many of the <paramref name="wanted"/>
    /// ones past them as the budget has room for once the required part is counted (<see cref="KvCachePool.Headroom"/>:
    /// headroom never evicts anyone). <paramref name="covered"/>: the block is a running generation's;
    /// <paramref name="replacing"/>: bytes of a block it replaces, freed after the copy.
    /// </summary>
    internal static int Sized(KvCachePool pool, int required, int wanted, bool covered = false, long replacing = 0)
    {
        if (wanted <= required)
        {
            return required;
        }

        var bytesPerToken = pool.BytesPerToken;
        var growth = Math.Max(0, required * bytesPerToken - replacing);
        var granted = Math.Max(0, pool.Headroom(growth + (wanted - required) * bytesPerToken, covered) - growth);
        return required + (int)(granted / bytesPerToken);
    }

    public void Dispose()
    {
        _batch.Dispose();
        _logits.Release();
        _memory.Dispose();
    }
}
