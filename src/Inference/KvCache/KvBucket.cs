namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>Which of the budget's figures a handle's KV memory counts in (<see cref="KvCachePool"/>.Budget.cs).</summary>
internal enum KvBucket
{
    /// <summary>Held, but no reservation covers it (a queued request's handle, a copy's source): counted whole.</summary>
    Pinned,

    /// <summary>Idle: evictable, least recently used first.</summary>
    Idle,

    /// <summary>Inside a reservation (a running generation's handle, a copy or import being made).</summary>
    Covered,

    /// <summary>An evicted cache the restore tier is reading: about to be freed.</summary>
    Spilling,
}
