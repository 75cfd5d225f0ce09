using System.Diagnostics;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// Puts an evicted sequence's KV back from the restore tier when its next generation is submitted, so that admission
/// finds the prompt's prefix cached as if it had never been evicted. It runs in <c>Submit</c>, on the caller's thread,
/// after the handle is activated (no eviction, release or other generation can reach it) and before the request is
/// queued: the file read and the import (time linear in the bytes: milliseconds for thousands of tokens) never stall
/// the scheduler's thread, which only sees a handle that caches more. Only the part of the entry the prompt starts
/// with is read and imported; an entry that gives no more than the handle already has is dropped.
/// </summary>
internal sealed class TierRestorer(KvCachePool pool, RestoreTier tier, IKvStrategy kv, EngineMetrics metrics)
{
    /// <summary>
    /// Restores <paramref name="handle"/>'s cache when it was evicted since its last generation and the tier holds it;
    /// returns the tokens restored (0 otherwise). The entry leaves the tier either way. Errors cost a recompute, never
    /// the request.
    /// </summary>
    public int Restore(KvCacheHandle handle, int[] prompt)
    {
        if (!handle.EvictedSinceUse)
        {
            return 0;
        }

        handle.EvictedSinceUse = false;
        var started = Stopwatch.GetTimestamp();
        // As admission: at most prompt - 1 tokens are reused, the last one is computed for the first reply token's logits.
        var limit = prompt.Length - 1;
        var have = CommonPrefix(handle.Tokens, prompt, limit);
        using var claim = tier.TryTake(handle.Id);
        if (claim is null)
        {
            tier.Missed(RestoreMiss.Absent);
            return 0;
        }

        var use = CommonPrefix(claim.Tokens, prompt, limit);
        if (use <= have)
        {
            tier.Missed(RestoreMiss.Mismatch);
            return 0;
        }

        bool restored;
        try
        {
            var data = claim.Read(use);
            restored = pool.TryRestore(handle, prompt.AsSpan(0, use), staging => kv.Import(staging, use, data));
        }
        catch (Exception)
        {
            // A missing or damaged file, or an import the device refused: TryRestore left the handle as it was.
            restored = false;
        }

        if (!restored)
        {
            tier.Missed(RestoreMiss.Refused);
            return 0;
        }

        tier.Hit(use);
        metrics.Restored(Stopwatch.GetElapsedTime(started).TotalSeconds, claim.FromDisk);
        return use;
    }

    private static int CommonPrefix(IReadOnlyList<int> cached, int[] prompt, int limit)
    {
        var n = Math.Min(Math.Min(cached.Count, prompt.Length), limit);
        var i = 0;
        while (i < n && cached[i] == prompt[i])
        {
            i++;
        }

        return i;
    }
}
