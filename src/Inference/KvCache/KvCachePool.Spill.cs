namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>Writes <paramref name="tokens"/> tokens of <paramref name="source"/>'s KV into <paramref name="destination"/> in <see cref="KvSnapshot"/>'s order.</summary>
internal delegate void KvExport(KvCacheHandle source, int tokens, Span<byte> destination);

/// <summary>
/// The pool's side of the restore tier: an evicted handle's KV spills to the tier instead of being dropped, and a
/// turn of an evicted handle restores it. Eviction stays cheap under the lock: the victim's KV only moves (no copy)
/// into a detached handle and the tier registers its entry; the copy to bytes runs after the lock is let go, on the
/// evicting thread, before the reservation returns (so device memory is freed before anything else is allocated);
/// files are written by the tier's writer, off every caller's thread.
/// </summary>
public sealed partial class KvCachePool
{
    private RestoreTier? _tier;
    private KvExport? _export;

    internal RestoreTier? Tier => _tier;

    /// <summary>Spill evicted KV into <paramref name="tier"/>, read out by <paramref name="export"/>. Set once, before any handle exists.</summary>
    internal void UseRestoreTier(RestoreTier tier, KvExport export)
    {
        ArgumentNullException.ThrowIfNull(tier);
        ArgumentNullException.ThrowIfNull(export);
        _tier = tier;
        _export = export;
    }

    /// <summary>
    /// Under the lock, evicting <paramref name="victim"/>: its KV leaves it, moved into a detached handle with the
    /// tier's entry when the tier takes it, else dropped. Either way the victim caches nothing afterwards.
    /// </summary>
    private (KvCacheHandle Detached, RestoreTier.Entry Entry)? EvictLocked(KvCacheHandle victim)
    {
        victim.EvictedSinceUse = true;
        if (victim.CachedTokenCount == 0 || _tier?.TryBegin(victim.Id, [.. victim.TokenList]) is not { } entry)
        {
            victim.DropCache();
            return null;
        }

        // Its memory counts as on its way out (spilling) from here: eviction stops once enough is leaving.
        var detached = new KvCacheHandle(this, victim.Id) { IsReleased = true, Bucket = KvBucket.Spilling };
        detached.MoveCacheFrom(victim);
        return (detached, entry);
    }

    /// <summary>Outside the lock: each detached cache becomes bytes in the tier, then its KV memory is freed.</summary>
    private void FinishSpills(List<(KvCacheHandle Detached, RestoreTier.Entry Entry)> spills)
    {
        foreach (var (detached, entry) in spills)
        {
            try
            {
                var tokens = detached.CachedTokenCount;
                // Every byte is written by the export: zeroing the array first would only cost another pass.
                var data = GC.AllocateUninitializedArray<byte>(checked((int)(tokens * BytesPerToken)));
                _export!(detached, tokens, data);
                _tier!.Complete(entry, data);
            }
            catch (Exception)
            {
                // A spill is a cache fill: losing it costs the sequence a recompute, never the eviction itself.
                _tier!.Abandon(entry);
            }
            finally
            {
                detached.DropCache();
            }
        }
    }

    /// <summary>
    /// Gives <paramref name="handle"/>, held by the generation being admitted (active, so nothing else reaches it), exactly
    /// <paramref name="tokens"/>, their KV written by <paramref name="write"/> into a staging handle: a restore from
    /// the tier. The bytes are reserved first (idle handles evicted, and spilled, for them), and the reservation
    /// goes in one step with the handle taking the staging cache (its memory then covered by the generation's own). False, nothing
    /// changed or reserved, when the budget cannot hold them. An exception from <paramref name="write"/> propagates,
    /// likewise leaving nothing behind.
    /// </summary>
    internal bool TryRestore(KvCacheHandle handle, ReadOnlySpan<int> tokens, Action<KvCacheHandle> write)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(write);
        if (tokens.IsEmpty || !handle.IsActive)
        {
            return false;
        }

        var staging = new KvCacheHandle(this, handle.Id) { Bucket = KvBucket.Covered };
        var reserved = false;
        try
        {
            if (!TryReserve(tokens.Length * BytesPerToken))
            {
                return false;
            }

            reserved = true;
            staging.TokenList.AddRange(tokens);
            write(staging);
            lock (_lock)
            {
                _reservedBytes = Math.Max(0, _reservedBytes - tokens.Length * BytesPerToken);
                reserved = false;
                handle.MoveCacheFrom(staging);
            }

            return true;
        }
        finally
        {
            staging.IsReleased = true;
            staging.DropCache();
            if (reserved)
            {
                Unreserve(tokens.Length * BytesPerToken);
            }
        }
    }
}
