using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Grains.Moves;

/// <summary>
/// Moves a conversation's KV off this (draining) silo: exports it from the engine, picks the silo with the most free
/// KV (then the fewest running sequences) among those not draining, and sends it there in parts under Orleans'
/// message size, into that silo's pool under the conversation's key. The conversation then migrates, and the
/// KV-aware placement finds its KV on that silo: the next turn computes only its new tokens.
/// </summary>
public sealed class KvMover(InferenceEngine engine, IGrainFactory grains, OtherSilos others)
{
    /// <summary>Bytes a part carries: well under Orleans' default message size limit.</summary>
    public const int PartBytes = 4 * 1024 * 1024;

    public string Geometry => GeometryOf(engine);

    /// <summary>What must match for KV bytes to mean the same on another silo: the engine's KV descriptor, as text.</summary>
    public static string GeometryOf(InferenceEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var d = engine.KvDescriptor;
        // The receiver rebuilds the snapshot under its own descriptor, so this text must hold all of it: int8 scales too.
        var scales = d.Scales is null ? "" : ":" + d.Scales;
        return FormattableString.Invariant($"{d.Model}:{d.Layers}x{d.KvHeads}x{d.HeadDim}:{d.ElementType}:v{d.Format}{scales}");
    }

    public async Task<KvMoveResult> MoveAsync(string sequenceId, CancellationToken cancellationToken)
    {
        var snapshot = engine.ExportKv(sequenceId);
        if (snapshot is null)
        {
            return new KvMoveResult(KvMoveOutcome.NothingHeld, null, 0, 0);
        }

        var bytes = (long)snapshot.Data.Length;
        var target = await ChooseTargetAsync(sequenceId, bytes, cancellationToken);
        if (target is null)
        {
            return new KvMoveResult(KvMoveOutcome.NoTarget, null, snapshot.TokenCount, bytes);
        }

        var silo = SiloEngineGrainKeys.ForSilo(grains, target);
        var transfer = Guid.NewGuid();
        for (long offset = 0; offset < bytes; offset += PartBytes)
        {
            var length = (int)Math.Min(PartBytes, bytes - offset);
            var part = new KvTransferPart
            {
                SequenceId = sequenceId,
                TransferId = transfer,
                Geometry = Geometry,
                Tokens = offset == 0 ? snapshot.TokenIds : null,
                TotalBytes = bytes,
                Offset = offset,
                Data = snapshot.Data.Slice((int)offset, length).ToArray(),
            };
            if (!await silo.ImportKv(part).WaitAsync(cancellationToken))
            {
                return new KvMoveResult(KvMoveOutcome.Refused, target, snapshot.TokenCount, bytes);
            }
        }

        return new KvMoveResult(KvMoveOutcome.Moved, target, snapshot.TokenCount, bytes);
    }

    private async Task<SiloAddress?> ChooseTargetAsync(string sequenceId, long bytes, CancellationToken cancellationToken) =>
        (await others.ProbeAsync(sequenceId, cancellationToken))
            .Where(p => !p.Probe.Draining && p.Probe.KvFreeBytes >= bytes)
            .OrderByDescending(p => p.Probe.KvFreeBytes)
            .ThenBy(p => p.Probe.Running)
            .Select(p => p.Silo)
            .FirstOrDefault();
}

public enum KvMoveOutcome
{
    Moved,
    /// <summary>The engine held no KV for the conversation (evicted, never computed, or in a turn).</summary>
    NothingHeld,
    /// <summary>No other silo is up, or none has room.</summary>
    NoTarget,
    /// <summary>The target refused the transfer (geometry, room).</summary>
    Refused,
}

/// <summary>How one move went: where to, and how many tokens and bytes.</summary>
public sealed record KvMoveResult(KvMoveOutcome Outcome, SiloAddress? Target, int Tokens, long Bytes);
