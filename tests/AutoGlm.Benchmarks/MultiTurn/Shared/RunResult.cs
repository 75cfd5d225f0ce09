namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>The turns of one run of the workload against one system at one concurrency, and its wall time.</summary>
public sealed record RunResult(int Concurrency, double WallSeconds, IReadOnlyList<TurnRecord> Turns);
