namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// The sequences' KV handles and the KV budget (<see cref="KvCachePool"/>.Budget.cs accounts the memory). A
/// handle is active while a generation (or a copy, an export, an import) holds it, and idle otherwise: idle ones
/// holding KV are evicted least recently used first when the budget is short; active ones never are.
/// Thread-safe: handles are created and released by callers, reserved by the scheduler.
/// </summary>
public sealed partial class KvCachePool
{
    /// <summary>A table that emptied to under a quarter of its capacity is rebuilt, if it has at least this many buckets.</summary>
    private const int TrimmedCapacity = 64;

    private readonly object _lock = new();
    // Idle handles that hold KV, least recently used first: eviction's candidates.
    private readonly LinkedList<KvCacheHandle> _idle = new();
    // Idle handles that hold none (new, evicted, dropped): nothing to evict, but still swept by ReleaseIdle.
    private readonly LinkedList<KvCacheHandle> _empty = new();
    private readonly Dictionary<string, KvCacheHandle> _handles = new(StringComparer.Ordinal);
    private int _handlesCapacity;
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
            AddHandleLocked(handle);
            AddIdleLocked(handle);
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
            return new KvCachePoolStats(_allocatedBytes, _reservedBytes, BudgetBytes, _handles.Count, Interlocked.Read(ref _evictions))
            {
                FreeBytes = FreeBytesLocked(),
            };
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
            released += ReleaseIdleLocked(_idle, cutoff);
            released += ReleaseIdleLocked(_empty, cutoff);
        }

        _tier?.Sweep();
        return released;
    }

    private int ReleaseIdleLocked(LinkedList<KvCacheHandle> list, long cutoff)
    {
        var released = 0;
        for (var node = list.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.LastUsedTimestamp <= cutoff)
            {
                ReleaseLocked(node.Value);
                released++;
            }

            node = next;
        }

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

    /// <summary>Takes a handle out of eviction's reach: active, off the idle lists.</summary>
    private void Hold(KvCacheHandle handle)
    {
        handle.IsActive = true;
        RemoveIdleLocked(handle);
    }

    /// <summary>
    /// A generation (or a copy, export or import holding the handle) ended: the handle becomes idle (evictable), or
    /// is released if that was asked meanwhile. Exactly once per activation: a second call would list it twice.
    /// </summary>
    internal void Deactivate(KvCacheHandle handle)
    {
        lock (_lock)
        {
            if (!handle.IsActive)
            {
                throw new InvalidOperationException($"sequence {handle.Id} was given back twice");
            }

            handle.IsActive = false;
            handle.LastUsedTimestamp = Environment.TickCount64;
            if (!handle.ReleaseRequested)
            {
                AddIdleLocked(handle);
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
        RemoveIdleLocked(handle);
        handle.IsReleased = true;
        handle.DropCache();
        // Only its own entry: a handle made since under the same id (after this one was detached) stays.
        if (_handles.TryGetValue(handle.Id, out var listed) && ReferenceEquals(listed, handle))
        {
            _handles.Remove(handle.Id);
            TrimHandlesLocked();
        }

        _tier?.Forget(handle.Id);
    }

    private void AddHandleLocked(KvCacheHandle handle)
    {
        _handles.Add(handle.Id, handle);
        _handlesCapacity = Math.Max(_handlesCapacity, _handles.Count);
    }

    /// <summary>
    /// A table that grew to N entries keeps N buckets after they are released: once it holds under a quarter of the
    /// most it held, it is rebuilt at its size, so a burst of conversations does not pin its peak's memory forever.
    /// </summary>
    private void TrimHandlesLocked()
    {
        if (_handlesCapacity >= TrimmedCapacity && _handles.Count < _handlesCapacity / 4)
        {
            _handles.TrimExcess();
            _handlesCapacity = _handles.Count;
        }
    }

    /// <summary>Into the idle list it belongs in: least recently used last among those holding KV, or the empty ones.</summary>
    private void AddIdleLocked(KvCacheHandle handle)
    {
        MoveLocked(handle, KvBucket.Idle);
        handle.LruNode = handle.Bytes > 0 ? _idle.AddLast(handle) : _empty.AddLast(handle);
    }

    /// <summary>Off the idle lists: its memory counts whole (pinned) until a reservation covers it or it is idle again.</summary>
    private void RemoveIdleLocked(KvCacheHandle handle)
    {
        if (handle.LruNode is { } node)
        {
            node.List!.Remove(node);
            handle.LruNode = null;
        }

        MoveLocked(handle, KvBucket.Pinned);
    }

    /// <summary>Test hook: how many handles sit in the idle lists (a handle given back twice would count twice).</summary>
    internal int IdleCount
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count + _empty.Count;
            }
        }
    }

    /// <summary>Test hook: the table's bucket capacity, to check it shrinks.</summary>
    internal int HandleTableCapacity
    {
        get
        {
            lock (_lock)
            {
                return _handles.EnsureCapacity(0);
            }
        }
    }
}
