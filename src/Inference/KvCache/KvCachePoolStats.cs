namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>A point-in-time view of the pool: bytes held, bytes promised to running generations, budget.</summary>
public sealed record KvCachePoolStats(long UsedBytes, long ReservedBytes, long BudgetBytes, int Sequences, long Evictions);
