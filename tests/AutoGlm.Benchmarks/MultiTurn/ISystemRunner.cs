namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>Runs the workload on one system at each concurrency: in this process, or in a child process.</summary>
public interface ISystemRunner
{
    string Name { get; }

    /// <summary>How the system was configured and what limited it, for the report.</summary>
    IReadOnlyList<string> Notes { get; }

    Task<IReadOnlyList<RunResult>> RunAsync(Workload workload, CancellationToken cancellationToken);
}
