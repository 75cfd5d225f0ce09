using System.Runtime.InteropServices;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// Accounts every handle's KV bytes against a budget. Admission reserves what a generation may grow to; when the
/// budget is short, idle handles are evicted least recently used first. Handles in an active generation are
/// never evicted. Thread-safe: handles are created and released by callers, reserved by the scheduler.
/// </summary>
public sealed partial class KvCachePool
{
    private readonly object _lock = new();
    private readonly LinkedList<KvCacheHandle> _idle = new();
    private readonly Dictionary<string, KvCacheHandle> _handles = new(StringComparer.Ordinal);
    private long _reservedBytes;
    private long _evictions;

    public KvCachePool(long budgetBytes, long bytesPerToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budgetBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerToken);
        BudgetBytes = budgetBytes;
        BytesPerToken = bytesPerToken;
    }

    public long BudgetBytes { get; }

    public long BytesPerToken { get; }

    /// <summary>Bytes of KV held by all handles (cached tokens × bytes per token).</summary>
    public long UsedBytes
    {
        get
        {
            lock (_lock)
            {
                return UsedBytesLocked();
            }
        }
    }

    public int Sequences
    {
        get
        {
            lock (_lock)
            {
                return _handles.Count;
            }
        }
    }

    public long Evictions => Interlocked.Read(ref _evictions);

    public event Action<KvCacheHandle>? Evicted;

    /// <summary>Creates a handle, or returns the live one with the same id (a re-activated conversation finds its cache).</summary>
    public KvCacheHandle GetOrCreate(string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        lock (_lock)
        {
            if (_handles.TryGetValue(id, out var existing))
            {
                return existing;
            }

            var handle = new KvCacheHandle(this, id) { LastUsedTimestamp = Environment.TickCount64 };
            _handles.Add(id, handle);
            handle.LruNode = _idle.AddLast(handle);
            return handle;
        }
    }

    public bool TryGet(string id, out KvCacheHandle? handle)
    {
        lock (_lock)
        {
            return _handles.TryGetValue(id, out handle);
        }
    }

    public KvCachePoolStats Snapshot()
    {
        lock (_lock)
        {
            return new KvCachePoolStats(UsedBytesLocked(), _reservedBytes, BudgetBytes, _handles.Count, Interlocked.Read(ref _evictions));
        }
    }

    /// <summary>
    /// Releases every idle handle not used for <paramref name="maxIdle"/> (its conversation went idle past its TTL);
    /// returns how many. Handles in a generation are never touched.
    /// </summary>
    public int ReleaseIdle(TimeSpan maxIdle)
    {
        var cutoff = Environment.TickCount64 - (long)maxIdle.TotalMilliseconds;
        var released = 0;
        lock (_lock)
        {
            for (var node = _idle.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.LastUsedTimestamp <= cutoff)
                {
                    ReleaseLocked(node.Value);
                    released++;
                }

                node = next;
            }
        }

        _tier?.Sweep();
        return released;
    }

    /// <summary>Marks a handle active (its generation starts); fails when another generation holds it.</summary>
    internal bool TryActivate(KvCacheHandle handle)
    {
        lock (_lock)
        {
            if (handle.IsReleased || handle.IsActive)
            {
                return false;
            }

            Hold(handle);
            return true;
        }
    }

    /// <summary>Takes a handle out of eviction's reach: active, off the idle list.</summary>
    private void Hold(KvCacheHandle handle)
    {
        handle.IsActive = true;
        if (handle.LruNode is not null)
        {
            _idle.Remove(handle.LruNode);
            handle.LruNode = null;
        }
    }

    /// <summary>
    /// Creates the idle handle <paramref name="targetId"/> holding the first <paramref name="tokens"/> cached tokens
    /// of <paramref name="sourceId"/>: their ids here, their KV written by <paramref name="copy"/> (source, target,
    /// tokens) on the calling thread. Meanwhile the source is held as an active generation holds it, so it is
    /// neither activated, evicted nor released under the copy, and the copy's bytes are reserved like a
    /// generation's growth (idle handles evicted for them). False, with nothing created and nothing reserved,
    /// when the source is missing, active or shorter than <paramref name="tokens"/>, the target exists (before or
    /// by the time the copy is done), tokens &lt;= 0, or the budget cannot hold the copy. An exception from
    /// <paramref name="copy"/> propagates, likewise leaving nothing behind.
    /// </summary>
    internal bool TryCopyPrefix(string sourceId, string targetId, int tokens, Action<KvCacheHandle, KvCacheHandle, int> copy)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceId);
        ArgumentException.ThrowIfNullOrEmpty(targetId);
        if (tokens <= 0)
        {
            return false;
        }

        KvCacheHandle? source;
        lock (_lock)
        {
            if (!_handles.TryGetValue(sourceId, out source) || source.IsActive || source.CachedTokenCount < tokens
                || _handles.ContainsKey(targetId))
            {
                return false;
            }

            Hold(source);
        }

        // The target stays out of the pool until its KV is complete: no caller can find, activate or evict it half-made.
        var target = new KvCacheHandle(this, targetId);
        var reserved = false;
        var committed = false;
        try
        {
            if (!TryReserve(tokens))
            {
                return false;
            }

            reserved = true;
            target.TokenList.AddRange(CollectionsMarshal.AsSpan(source.TokenList)[..tokens]);
            copy(source, target, tokens);
            lock (_lock)
            {
                if (_handles.ContainsKey(targetId))
                {
                    return false; // GetOrCreate made it while the copy ran: that handle is the caller's now
                }

                // One step under the lock: the bytes pass from reserved to used, never counted twice or not at all.
                _reservedBytes = Math.Max(0, _reservedBytes - tokens * BytesPerToken);
                reserved = false;
                target.LastUsedTimestamp = Environment.TickCount64;
                _handles.Add(targetId, target);
                target.LruNode = _idle.AddLast(target);
                committed = true;
            }

            return true;
        }
        finally
        {
            if (!committed)
            {
                target.IsReleased = true;
                target.DropCache();
            }

            if (reserved)
            {
                Unreserve(tokens);
            }

            // Back to idle as after a generation: its LRU position refreshed, or released if that was asked meanwhile.
            Deactivate(source);
        }
    }

    /// <summary>
    /// Reserves room for a generation to grow by <paramref name="tokens"/>, evicting idle handles if needed.
    /// <paramref name="droppingTokens"/>: cached tokens of the generation's own handle that the caller drops once
    /// this succeeds (the cache past the prefix its prompt shares), counted as free already. False when even
    /// evicting every idle handle would not make room.
    /// </summary>
    internal bool TryReserve(long tokens, long droppingTokens = 0)
    {
        var bytes = tokens * BytesPerToken;
        var dropping = droppingTokens * BytesPerToken;
        List<KvCacheHandle>? evicted = null;
        List<(KvCacheHandle, RestoreTier.Entry)>? spills = null;
        lock (_lock)
        {
            if (bytes > BudgetBytes)
            {
                return false;
            }

            var idleBytes = 0L;
            foreach (var h in _idle)
            {
                idleBytes += h.Bytes;
            }

            if (UsedBytesLocked() - dropping + _reservedBytes + bytes - idleBytes > BudgetBytes)
            {
                return false;
            }

            while (UsedBytesLocked() - dropping + _reservedBytes + bytes > BudgetBytes && _idle.First is { } node)
            {
                var victim = node.Value;
                _idle.RemoveFirst();
                if (victim.CachedTokenCount == 0)
                {
                    victim.LruNode = _idle.AddLast(victim);
                    continue;
                }

                victim.LruNode = _idle.AddLast(victim);
                if (EvictLocked(victim) is { } spill)
                {
                    (spills ??= []).Add(spill);
                }

                victim.Evictions++;
                _evictions++;
                (evicted ??= []).Add(victim);
            }

            _reservedBytes += bytes;
        }

        if (spills is not null)
        {
            FinishSpills(spills);
        }

        _tier?.Sweep();
        if (evicted is not null)
        {
            foreach (var h in evicted)
            {
                Evicted?.Invoke(h);
            }
        }

        return true;
    }

    /// <summary>Returns a reservation: the tokens were cached (now counted as used) or never produced.</summary>
    internal void Unreserve(long tokens)
    {
        lock (_lock)
        {
            _reservedBytes = Math.Max(0, _reservedBytes - tokens * BytesPerToken);
        }
    }

    /// <summary>A generation ended: the handle becomes idle (evictable), or is released if that was asked meanwhile.</summary>
    internal void Deactivate(KvCacheHandle handle)
    {
        lock (_lock)
        {
            handle.IsActive = false;
            handle.LastUsedTimestamp = Environment.TickCount64;
            if (!handle.ReleaseRequested)
            {
                handle.LruNode = _idle.AddLast(handle);
                return;
            }

            ReleaseLocked(handle);
        }

        _tier?.Sweep();
    }

    internal void Release(KvCacheHandle handle)
    {
        lock (_lock)
        {
            if (handle.IsReleased)
            {
                return;
            }

            if (handle.IsActive)
            {
                handle.ReleaseRequested = true;
                return;
            }

            ReleaseLocked(handle);
        }

        _tier?.Sweep();
    }

    /// <summary>Out of the pool with its cache, and out of the restore tier (its file deleted by the caller's <see cref="RestoreTier.Sweep"/>).</summary>
    private void ReleaseLocked(KvCacheHandle handle)
    {
        if (handle.LruNode is not null)
        {
            _idle.Remove(handle.LruNode);
            handle.LruNode = null;
        }

        handle.IsReleased = true;
        handle.DropCache();
        _handles.Remove(handle.Id);
        _tier?.Forget(handle.Id);
    }

    private long UsedBytesLocked()
    {
        var tokens = 0L;
        foreach (var h in _handles.Values)
        {
            tokens += h.CachedTokenCount;
        }

        return tokens * BytesPerToken;
    }
}
