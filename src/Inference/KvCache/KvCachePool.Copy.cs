using System.Runtime.InteropServices;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>A sequence's cache copied into a new sequence of the same pool (a forked conversation).</summary>
public sealed partial class KvCachePool
{
    /// <summary>
    /// Creates the idle handle <paramref name="targetId"/> holding the first <paramref name="tokens"/> cached tokens
    /// of <paramref name="sourceId"/>: their ids here, their KV written by <paramref name="copy"/> (source, target,
    /// tokens) on the calling thread. Meanwhile the source is held as an active generation holds it, so it is
    /// neither activated, evicted nor released under the copy, and the copy's bytes are reserved like a
    /// generation's (idle handles evicted for them). False, with nothing created and nothing reserved,
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
        var target = new KvCacheHandle(this, targetId) { Bucket = KvBucket.Covered };
        var reserved = false;
        var committed = false;
        try
        {
            if (!TryReserve(tokens * BytesPerToken))
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

                // One step under the lock: the reservation goes as the copy's memory becomes idle, never counted
                // twice or not at all.
                _reservedBytes = Math.Max(0, _reservedBytes - tokens * BytesPerToken);
                reserved = false;
                target.LastUsedTimestamp = Environment.TickCount64;
                AddHandleLocked(target);
                AddIdleLocked(target);
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
                Unreserve(tokens * BytesPerToken);
            }

            // Back to idle as after a generation: its LRU position refreshed, or released if that was asked meanwhile.
            Deactivate(source);
        }
    }
}
