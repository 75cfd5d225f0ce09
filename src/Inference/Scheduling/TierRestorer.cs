using System.Diagnostics;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// Puts an evicted sequence's KV back from the restore tier for its next generation, so that admission finds the
/// prompt's prefix cached as if it had never been evicted. In two steps, so that the scheduler's thread never waits
/// for a file and the restore takes KV budget in queue order:
/// <list type="number">
/// <item><see cref="Restore"/>, in <c>Submit</c> on the caller's thread, once the handle is activated (no eviction,
/// release or other generation can reach it) and before the request is queued: takes the entry out of the tier and
/// reads the part of it the prompt starts with (from its file, or the host tier's array), staged on the request
/// (<see cref="StagedRestore"/>, its bytes counted in the tier's bound while it waits).</item>
/// <item><see cref="StagedRestore.TryApply"/>, at admission on the scheduler's thread: reserves the restored tokens in
/// the KV budget (evicting idle handles, as any reservation) and imports them into the handle, a memory copy (host to
/// device on a GPU) in time linear in the bytes, a few milliseconds for thousands of tokens; then admission proceeds
/// and reuses them as cached. When the budget cannot hold them yet the request waits first in line, as a request
/// whose reservation does not fit waits.</item>
/// </list>
/// Importing at submission instead would take budget out of queue order: restored KV of queued requests is held (it
/// cannot be evicted), so a burst of them could fill the budget with nothing running and starve admission.
/// </summary>
internal sealed class TierRestorer(KvCachePool pool, RestoreTier tier, IKvStrategy kv, EngineMetrics metrics)
{
    /// <summary>
    /// When <paramref name="handle"/> was evicted since its last generation and the tier holds its cache, the part of
    /// it that <paramref name="prompt"/> starts with, read and staged for admission; null otherwise (counted as a
    /// miss when the handle was evicted). The entry leaves the tier either way. Errors cost a recompute, never the
    /// request.
    /// </summary>
    public StagedRestore? Restore(KvCacheHandle handle, int[] prompt)
    {
        if (!handle.EvictedSinceUse)
        {
            return null;
        }

        handle.EvictedSinceUse = false;
        var started = Stopwatch.GetTimestamp();
        // As admission: at most prompt - 1 tokens are reused, the last one is computed for the first reply token's logits.
        var limit = prompt.Length - 1;
        var have = KvPrefix.Common(handle.Tokens, prompt, limit);
        using var claim = tier.TryTake(handle.Id);
        if (claim is null)
        {
            tier.Missed(RestoreMiss.Absent);
            return null;
        }

        var use = KvPrefix.Common(claim.Tokens, prompt, limit);
        if (use <= have)
        {
            tier.Missed(RestoreMiss.Mismatch);
            return null;
        }

        byte[] data;
        try
        {
            data = claim.Read(use);
        }
        catch (Exception)
        {
            // A missing or damaged file: the turn recomputes.
            tier.Missed(RestoreMiss.Refused);
            return null;
        }

        if (!tier.TryStage(data.LongLength))
        {
            tier.Missed(RestoreMiss.Refused);
            return null;
        }

        return new StagedRestore(this, data, use, Stopwatch.GetElapsedTime(started), claim.FromDisk);
    }

    /// <summary>Imports a staged restore into <paramref name="request"/>'s handle (admission, the scheduler's thread).</summary>
    internal bool TryImport(ActiveRequest request, byte[] data, int tokens) =>
        pool.TryRestore(request.Handle, request.Prompt.AsSpan(0, tokens), staging => kv.Import(staging, tokens, data));

    internal void Restored(int tokens, TimeSpan took, bool fromDisk)
    {
        tier.Hit(tokens);
        metrics.Restored(took.TotalSeconds, fromDisk);
    }

    internal void Refused() => tier.Missed(RestoreMiss.Refused);

    internal void Unstage(long bytes) => tier.Unstage(bytes);
}

/// <summary>
/// KV read from the restore tier at submission, waiting on its request for admission to import it. Its bytes count in
/// the tier's bound until it is imported or dropped (the request ends before admission).
/// </summary>
/// <param name="read">What taking and reading it took at submission: its restore time is that and the import, not the wait between.</param>
internal sealed class StagedRestore(TierRestorer restorer, byte[] data, int tokens, TimeSpan read, bool fromDisk) : IDisposable
{
    private bool _done;

    /// <summary>
    /// At admission: imports the bytes into the request's handle and reports them restored; true when the request can
    /// go on being admitted. When the budget cannot hold them yet, false while <paramref name="canWait"/> (running
    /// generations will free room: the request stays first in line, staged); otherwise the restore is dropped as
    /// refused and the request is admitted as a recompute.
    /// </summary>
    public bool TryApply(ActiveRequest request, bool canWait)
    {
        bool imported;
        var started = Stopwatch.GetTimestamp();
        try
        {
            imported = restorer.TryImport(request, data, tokens);
        }
        catch (Exception)
        {
            imported = false; // the handle is as it was: the request recomputes
            canWait = false;
        }

        if (!imported && canWait)
        {
            return false;
        }

        if (imported)
        {
            request.RestoredTokens = tokens;
            restorer.Restored(tokens, read + Stopwatch.GetElapsedTime(started), fromDisk);
        }
        else
        {
            restorer.Refused();
        }

        request.Staged = null;
        Dispose();
        return true;
    }

    public void Dispose()
    {
        if (!_done)
        {
            _done = true;
            restorer.Unstage(data.LongLength);
        }
    }
}
