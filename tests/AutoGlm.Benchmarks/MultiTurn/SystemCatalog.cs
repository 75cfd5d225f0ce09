namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// The systems the issue compares, by the names the result file uses. The cluster systems are real silos in this
/// process (<see cref="ClusterSystem"/>): one silo with all cores, or one or two silos whose engines use one
/// intra-op thread each.
/// </summary>
public static class SystemCatalog
{
    public const string Cluster = "cluster";
    public const string Stateless = "stateless";
    public const string OrtGenAi = "ortgenai";
    public const string Cluster1Silo1Thread = "cluster_1silo_1thread";
    public const string Cluster2Silos1Thread = "cluster_2silos_1thread";
    public const string OrtGenAiProject = "AutoGlm.Benchmarks.OrtGenAI";

    public static IReadOnlyList<string> All { get; } = [Cluster, Stateless, OrtGenAi, Cluster1Silo1Thread, Cluster2Silos1Thread];

    /// <summary>The runner of <paramref name="name"/>, or null and why it cannot run in this build.</summary>
    public static (ISystemRunner? Runner, string? Missing) Create(string name, BenchmarkSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        switch (name)
        {
            case Stateless:
            {
                // Never more workers than clients: an idle worker would only hold cores back from the busy ones.
                int Workers(int concurrency) => Math.Max(1, Math.Min(settings.StatelessWorkers, concurrency));
                int Threads(int concurrency) => Math.Max(1, settings.IntraOpThreads / Workers(concurrency));
                IReadOnlyList<string> notes =
                [
                    $"min(C, {settings.StatelessWorkers}) workers, each an engine with MaxBatchSize 1 and intra-op threads = {settings.IntraOpThreads} / workers; "
                    + "a FIFO queue in front; the whole history prefilled into a fresh handle every turn, released after",
                ];
                return (new InProcessRunner(name,
                    (c, _) => Task.FromResult<IChatSystem>(new StatelessSystem(settings.ModelPath, settings.ContextLength, Workers(c), Threads(c))), notes), null);
            }

            case OrtGenAi:
            {
                var child = settings.OrtGenAiAssembly ?? ChildProcessRunner.Locate(settings.RepositoryRoot, OrtGenAiProject);
                return child is null
                    ? (null, $"tests/{OrtGenAiProject} is not built: dotnet build -c Release tests/{OrtGenAiProject}")
                    : (new ChildProcessRunner(name, child, settings.ModelPath, settings.IntraOpThreads), null);
            }

            case Cluster or Cluster1Silo1Thread or Cluster2Silos1Thread:
            {
                var (silos, threads) = name switch
                {
                    Cluster1Silo1Thread => (1, 1),
                    Cluster2Silos1Thread => (2, 1),
                    _ => (1, settings.IntraOpThreads),
                };
                IReadOnlyList<string> notes =
                [
                    $"{silos} silo(s) in this process on loopback (localhost clustering, in-memory storage), each engine with {threads} intra-op thread(s); "
                    + "an Orleans client through the client library; replies forced to the drawn length (IgnoreEndOfTurn)",
                ];
                return (new InProcessRunner(name,
                    async (_, ct) => await ClusterSystem.StartAsync(settings.ModelPath, silos, threads, ct, settings.ChunkWindow).ConfigureAwait(false), notes), null);
            }

            default:
                throw new ArgumentException($"unknown system '{name}' (known: {string.Join(", ", All)})", nameof(name));
        }
    }
}
