namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>A point-in-time view of the pool: bytes held, bytes promised to running generations, budget.</summary>
/// <param name="UsedBytes">KV memory allocated, headroom included.</param>
/// <param name="ReservedBytes">Running generations' whole-sequence reservations.</param>
public sealed record KvCachePoolStats(long UsedBytes, long ReservedBytes, long BudgetBytes, int Sequences, long Evictions)
{
    /// <summary>
    /// Room a new sequence could have without evicting a cache: the budget less what is committed, plus idle handles'
    /// spare capacity (trimmed back before anything is evicted). Placement and rebalancing compare silos by it.
    /// </summary>
    public long FreeBytes { get; init; } = Math.Max(0, BudgetBytes - UsedBytes);
}
