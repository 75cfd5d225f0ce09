namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// The KV budget, in bytes of KV memory actually allocated: every block and tensor a handle, a decode batch or a
/// copy in progress holds, its whole capacity (headroom past the cached tokens included), charged as it is
/// allocated and freed (<see cref="Charge"/>), so every figure here is a counter kept under the lock, never a scan.
/// A handle's memory is idle (evictable), pinned (held, but no reservation covers it: a queued request's handle, a
/// copy's source), covered (inside a reservation: a running generation's handle and the decode batch, a copy being
/// made) or spilling (an evicted cache the restore tier is reading: about to be freed). A generation reserves, at
/// admission, the KV its sequence holds at its longest (prompt and every new token), so it never runs out
/// mid-reply, and its memory grows inside that reservation. The budget holds
/// <c>idle + pinned + max(covered, reserved) &lt;= budget</c>: only memory beyond all reservations (a decode batch's
/// padding: a short row beside a long one holds the long row's capacity) counts on top of them. Admission evicts
/// idle handles until its reservation fits, after first taking back idle handles' headroom (<see cref="UseTrim"/>):
/// a conversation's spare capacity goes before any conversation's cache. Optional headroom (a block's spare
/// capacity, a batch's spare rows) is only ever taken from room no one has a claim on (<see cref="Headroom"/>).
/// </summary>
public sealed partial class KvCachePool
{
    private long _allocatedBytes;
    private long _idleBytes;
    private long _pinnedBytes;
    private long _coveredBytes;
    private long _spillingBytes;
    private long _reservedBytes;
    // Idle handles' spare capacity: trimmed back before any cache is evicted, so room a placement may count as free.
    private long _idleHeadroomBytes;
    // Set when memory past every reservation pushed the pool over its budget: the scheduler settles it between steps.
    private volatile bool _overBudget;
    private Action<KvCacheHandle>? _trim;

    /// <summary>
    /// How to shrink an idle handle's KV memory to its cached tokens (a copy into an exact block), for layouts that keep
    /// headroom: called under the lock, on idle handles only, when the budget is short. Set once, before any handle exists.
    /// </summary>
    internal void UseTrim(Action<KvCacheHandle> trim) => _trim = trim;

    /// <summary>Bytes of KV memory allocated: handles, decode batch and copies in progress, headroom included.</summary>
    public long UsedBytes => Interlocked.Read(ref _allocatedBytes);

    private long CommittedLocked(long extraReserved = 0) =>
        _idleBytes + _pinnedBytes + Math.Max(_coveredBytes, _reservedBytes + extraReserved);

    /// <summary>
    /// Memory of <paramref name="holder"/> (null: the decode batch's, always covered) changed by <paramref name="delta"/>
    /// bytes: allocated (positive) or freed. An idle handle that comes to hold nothing moves to the empty list.
    /// </summary>
    internal void Charge(KvCacheHandle? holder, long delta)
    {
        lock (_lock)
        {
            _allocatedBytes += delta;
            Bucket(holder?.Bucket ?? KvBucket.Covered) += delta;
            if (holder is not null)
            {
                RecountHeadroomLocked(holder);
            }
            if (holder?.LruNode is { } node && ReferenceEquals(node.List, _idle) && holder.Bytes == 0)
            {
                _idle.Remove(node);
                holder.LruNode = _empty.AddLast(holder);
            }

            if (delta > 0 && CommittedLocked() > BudgetBytes)
            {
                _overBudget = true;
            }
        }
    }

    private ref long Bucket(KvBucket bucket)
    {
        switch (bucket)
        {
            case KvBucket.Idle:
                return ref _idleBytes;
            case KvBucket.Covered:
                return ref _coveredBytes;
            case KvBucket.Spilling:
                return ref _spillingBytes;
            default:
                return ref _pinnedBytes;
        }
    }

    /// <summary>Counts <paramref name="handle"/>'s memory in <paramref name="bucket"/> from now on.</summary>
    private void MoveLocked(KvCacheHandle handle, KvBucket bucket)
    {
        if (handle.Bucket == bucket)
        {
            return;
        }

        Bucket(handle.Bucket) -= handle.Bytes;
        Bucket(bucket) += handle.Bytes;
        handle.Bucket = bucket;
        RecountHeadroomLocked(handle);
    }

    private void RecountHeadroomLocked(KvCacheHandle handle)
    {
        var headroom = handle.Bucket == KvBucket.Idle ? Math.Max(0, handle.Bytes - handle.CachedTokenCount * BytesPerToken) : 0;
        _idleHeadroomBytes += headroom - handle.CountedHeadroom;
        handle.CountedHeadroom = headroom;
    }

    /// <summary>
    /// Room a new sequence could have without evicting any cache: the budget less what is committed
    /// (<c>idle + pinned + max(covered, reserved)</c>), plus idle handles' spare capacity, which is trimmed back first.
    /// What placement and rebalancing compare silos by.
    /// </summary>
    private long FreeBytesLocked() =>
        Math.Max(0, BudgetBytes - CommittedLocked() + Math.Clamp(_idleHeadroomBytes, 0, _idleBytes));

    /// <summary>
    /// How much of <paramref name="wanted"/> bytes of optional headroom may be allocated now without taking anyone's
    /// claim, so taking it evicts nothing and keeps the budget. <paramref name="covered"/>: memory for running
    /// generations (their decode batch, a prompt's own block), which may also grow into what their reservations hold
    /// but do not use yet (that is what the reservations are for: refusing it there would re-grow a full budget's
    /// batch every step); otherwise (a block for an idle handle) only room past every reservation counts.
    /// </summary>
    internal long Headroom(long wanted, bool covered = false)
    {
        if (wanted <= 0)
        {
            return 0;
        }

        lock (_lock)
        {
            var room = covered
                ? BudgetBytes - _idleBytes - _pinnedBytes - _coveredBytes
                : BudgetBytes - CommittedLocked();
            return Math.Clamp(room, 0, wanted);
        }
    }

    /// <summary>
    /// Reserves <paramref name="bytes"/> for a generation's (or a copy's) KV, evicting idle handles, least recently
    /// used first, until it fits; <paramref name="covering"/>, the generation's held handle, then counts inside the
    /// reservation. False, nothing reserved or evicted, when even evicting every idle handle would not make room.
    /// </summary>
    internal bool TryReserve(long bytes, KvCacheHandle? covering = null)
    {
        List<(KvCacheHandle, RestoreTier.Entry)>? spills = null;
        lock (_lock)
        {
            // The handle's own memory moves inside the reservation: it is what the sequence grows from.
            var pinned = _pinnedBytes - (covering?.Bucket == KvBucket.Pinned ? covering.Bytes : 0);
            var covered = _coveredBytes + (covering?.Bucket == KvBucket.Pinned ? covering.Bytes : 0);
            if (bytes > BudgetBytes || pinned + Math.Max(covered, _reservedBytes + bytes) > BudgetBytes)
            {
                return false;
            }

            if (covering is not null)
            {
                MoveLocked(covering, KvBucket.Covered);
            }

            EvictWhileLocked(bytes, ref spills);
            _reservedBytes += bytes;
        }

        AfterEvictions(spills);
        return true;
    }

    /// <summary>
    /// Returns a reservation: the generation (or copy) is over, its memory now idle, freed or another's;
    /// <paramref name="covered"/>, its handle, counts whole again until it is given back.
    /// </summary>
    internal void Unreserve(long bytes, KvCacheHandle? covered = null)
    {
        lock (_lock)
        {
            _reservedBytes = Math.Max(0, _reservedBytes - bytes);
            if (covered?.Bucket == KvBucket.Covered)
            {
                MoveLocked(covered, KvBucket.Pinned);
            }
        }
    }

    /// <summary>
    /// When memory past every reservation (a batch's padding) pushed the pool over its budget, evicts idle handles
    /// until it is within it again, as far as they go. Cheap when nothing is over: one flag read.
    /// </summary>
    internal void Settle()
    {
        if (!_overBudget)
        {
            return;
        }

        List<(KvCacheHandle, RestoreTier.Entry)>? spills = null;
        lock (_lock)
        {
            _overBudget = false;
            EvictWhileLocked(0, ref spills);
        }

        AfterEvictions(spills);
    }

    private void EvictWhileLocked(long extraReserved, ref List<(KvCacheHandle, RestoreTier.Entry)>? spills)
    {
        // Headroom first, least recently used first: it costs a copy, where an eviction costs a recompute (or a restore).
        for (var node = _idle.First; _trim is not null && node is not null && CommittedLocked(extraReserved) > BudgetBytes;)
        {
            var next = node.Next;
            var handle = node.Value;
            if (handle.Bytes > handle.CachedTokenCount * BytesPerToken)
            {
                try
                {
                    _trim(handle);
                }
                catch (Exception)
                {
                    // Out of memory for the exact copy, say: the handle keeps its block, and eviction may take it.
                }
            }

            node = next;
        }

        while (CommittedLocked(extraReserved) > BudgetBytes && _idle.First is { } node)
        {
            var victim = node.Value;
            if (EvictLocked(victim) is { } spill)
            {
                (spills ??= []).Add(spill);
            }

            // Its KV is gone (spilled or dropped): it waits among the empty ones, still swept by ReleaseIdle.
            RemoveIdleLocked(victim);
            AddIdleLocked(victim);
            victim.Evictions++;
            _evictions++;
        }
    }

    private void AfterEvictions(List<(KvCacheHandle, RestoreTier.Entry)>? spills)
    {
        if (spills is not null)
        {
            FinishSpills(spills);
        }

        _tier?.Sweep();
    }
}
