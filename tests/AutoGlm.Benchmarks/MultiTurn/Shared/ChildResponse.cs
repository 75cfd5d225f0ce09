namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// What a child process sends back: one run per concurrency, or why it could not run (<see cref="Error"/>), and
/// notes on how it ran (configuration it had to choose, limitations met) for the report.
/// </summary>
public sealed record ChildResponse(IReadOnlyList<RunResult> Runs, string? Error, IReadOnlyList<string> Notes);
