namespace AutoGlm.Orleans.Inference.Metrics;

/// <summary>Values the engine's observable instruments read when metrics are collected.</summary>
public readonly record struct EngineGauges(long KvUsedBytes, long KvBudgetBytes, int Sequences, long Evictions, int Running, int Waiting)
{
    public double KvUsage => KvBudgetBytes == 0 ? 0 : (double)KvUsedBytes / KvBudgetBytes;
}
