namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// A sequence's cache leaving this pool as bytes and arriving from another pool's (a conversation moving between
/// silos). Both are held against the scheduler as <see cref="TryCopyPrefix"/> holds its source.
/// </summary>
public sealed partial class KvCachePool
{
    /// <summary>
    /// Runs <paramref name="read"/> on the idle handle <paramref name="id"/> while holding it as an active
    /// generation holds it (no generation, eviction or release can reach its KV meanwhile), then puts it back to
    /// idle, its LRU position refreshed, or releases it if that was asked meanwhile. Null, without calling
    /// <paramref name="read"/>, when the handle is missing, in a generation or caches nothing. An exception from
    /// <paramref name="read"/> propagates; the handle is put back all the same.
    /// </summary>
    internal T? TryExport<T>(string id, Func<KvCacheHandle, T> read)
        where T : class
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        KvCacheHandle? handle;
        lock (_lock)
        {
            if (!_handles.TryGetValue(id, out handle) || handle.IsActive || handle.IsReleased || handle.CachedTokenCount == 0)
            {
                return null;
            }

            Hold(handle);
        }

        try
        {
            return read(handle);
        }
        finally
        {
            Deactivate(handle);
        }
    }

    /// <summary>
    /// Makes the idle handle <paramref name="id"/> cache exactly <paramref name="tokens"/>, their KV written by
    /// <paramref name="write"/> into a staging handle (its token list already set) on the calling thread. With no
    /// handle of that id, the staging handle itself enters the pool; an existing one must be idle and cache fewer
    /// tokens than <paramref name="tokens"/>, is held during the write (a <c>Submit</c> on it fails as busy) and
    /// then takes the staging handle's tokens and KV, its own old cache dropped: the same object, so whoever holds
    /// it sees the import. The bytes are reserved first (idle handles evicted for them).
    /// False, with nothing created, changed or reserved, when the handle is active (or released), caches
    /// as many tokens or more, appears or is released while the write runs, or the budget cannot hold the import.
    /// An exception from <paramref name="write"/> propagates, likewise leaving nothing behind.
    /// </summary>
    internal bool TryImport(string id, ReadOnlySpan<int> tokens, Action<KvCacheHandle> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(write);
        if (tokens.IsEmpty)
        {
            return false;
        }

        KvCacheHandle? existing;
        lock (_lock)
        {
            if (_handles.TryGetValue(id, out existing))
            {
                if (existing.IsActive || existing.IsReleased || existing.CachedTokenCount >= tokens.Length)
                {
                    return false;
                }

                Hold(existing);
            }
        }

        // Built outside the pool, as TryCopyPrefix builds its target: nothing can find, activate or evict it half-made.
        var staging = new KvCacheHandle(this, id) { Bucket = KvBucket.Covered };
        var reserved = false;
        var committed = false;
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
                if (existing is null ? _handles.ContainsKey(id) : existing.ReleaseRequested)
                {
                    // GetOrCreate made the handle meanwhile (it is the caller's, left as it is), or its owner
                    // released it: an import into it would be dropped at once.
                    return false;
                }

                // One step under the lock: the bytes pass from reserved to used (and the replaced cache's go), never
                // counted twice or not at all.
                _reservedBytes = Math.Max(0, _reservedBytes - tokens.Length * BytesPerToken);
                reserved = false;
                if (existing is null)
                {
                    staging.LastUsedTimestamp = Environment.TickCount64;
                    AddHandleLocked(staging);
                    AddIdleLocked(staging);
                }
                else
                {
                    existing.MoveCacheFrom(staging);
                    existing.EvictedSinceUse = false;
                }

                // The import is the sequence's cache now: an older one spilled to the restore tier is stale.
                _tier?.Forget(id);
                committed = true;
            }

            return true;
        }
        finally
        {
            if (!committed)
            {
                staging.IsReleased = true;
                staging.DropCache();
            }

            if (reserved)
            {
                Unreserve(tokens.Length * BytesPerToken);
            }

            if (existing is not null)
            {
                // Back to idle, or released if that was asked meanwhile: as after a generation.
                Deactivate(existing);
            }

            _tier?.Sweep();
        }
    }
}
