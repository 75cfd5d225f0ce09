using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// A point-in-time view of the restore tier: where it keeps evicted KV, how much it holds against its bound, and what
/// happened to spills and restores so far.
/// </summary>
/// <param name="Kind"><see cref="RestoreTierKind.Host"/>, <see cref="RestoreTierKind.Disk"/>, or <see cref="RestoreTierKind.Off"/> when there is no tier.</param>
/// <param name="CapacityBytes">The bound (<see cref="EngineOptions.RestoreTierBytes"/>).</param>
/// <param name="BytesHeld">KV bytes of the entries held (in memory, on disk or being written) and of staged restores, never above the bound.</param>
/// <param name="Entries">Sequences the tier holds.</param>
/// <param name="StagedBytes">Of those, restores read at submission that wait for admission to import them.</param>
/// <param name="PendingWriteBytes">Disk tier: bytes spilled but not yet written (held in memory meanwhile).</param>
/// <param name="Spills">Evicted sequences stored.</param>
/// <param name="SkippedTooLarge">Spills skipped: larger than the whole bound (less the staged restores).</param>
/// <param name="SkippedBacklog">Spills skipped: the disk writes in flight already held their bound in memory.</param>
/// <param name="Failures">Spills lost to an error (exporting or writing); the sequence recomputes.</param>
/// <param name="Evictions">Entries dropped, oldest first, to make room for newer spills.</param>
/// <param name="Hits">Turns of evicted sequences that started from a restored cache.</param>
/// <param name="RestoredTokens">Tokens those turns restored (reported as cached).</param>
/// <param name="MissesAbsent">Turns of evicted sequences the tier held nothing for (skipped, evicted from the tier, lost).</param>
/// <param name="MissesMismatch">Turns whose prompt shares no more with the entry than with the handle's own cache.</param>
/// <param name="MissesRefused">Turns whose restore the KV budget could not hold (or that failed reading).</param>
/// <param name="Folder">Disk tier: this engine's folder of entry files; null otherwise.</param>
public sealed record RestoreTierStats(
    RestoreTierKind Kind,
    long CapacityBytes,
    long BytesHeld,
    int Entries,
    long StagedBytes,
    long PendingWriteBytes,
    long Spills,
    long SkippedTooLarge,
    long SkippedBacklog,
    long Failures,
    long Evictions,
    long Hits,
    long RestoredTokens,
    long MissesAbsent,
    long MissesMismatch,
    long MissesRefused,
    string? Folder)
{
    /// <summary>No tier (<see cref="EngineOptions.RestoreTierBytes"/> 0 or <see cref="RestoreTierKind.Off"/>).</summary>
    public static RestoreTierStats Off { get; } = new(RestoreTierKind.Off, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, null);

    /// <summary>Every miss: turns of evicted sequences that recomputed their history.</summary>
    public long Misses => MissesAbsent + MissesMismatch + MissesRefused;
}
