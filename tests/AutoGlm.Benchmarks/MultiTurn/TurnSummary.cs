namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>Latency percentiles (ms), mean prompt length and cache hit rate of a set of turns.</summary>
public sealed record TurnSummary(
    int Count,
    double TtftP50,
    double TtftP90,
    double TtftP99,
    double ItlP50,
    double ItlP99,
    double E2eP50,
    double E2eP99,
    double PromptTokensMean,
    double CacheHitRate);
