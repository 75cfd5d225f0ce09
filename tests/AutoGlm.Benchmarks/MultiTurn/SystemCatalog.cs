namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// The systems the issue compares, by the names the result file uses. The cluster systems are real silos in this
/// process (<see cref="ClusterSystem"/>): one silo with all cores, or one or two silos whose engines use one
/// intra-op thread each; <c>cluster_http</c> is one such silo behind its HTTP API (<see cref="ClusterHttpSystem"/>).
/// The llamacpp systems are llama.cpp's llama-server in a child process on a GGUF of the same weights, in f32, q8_0
/// or q4_0 (<see cref="LlamaCppSystem"/>).
/// </summary>
public static class SystemCatalog
{
    public const string Cluster = "cluster";
    public const string Stateless = "stateless";
    public const string OrtGenAi = "ortgenai";
    public const string Cluster1Silo1Thread = "cluster_1silo_1thread";
    public const string Cluster2Silos1Thread = "cluster_2silos_1thread";
    public const string ClusterHttp = "cluster_http";
    public const string ClusterInt8 = "cluster_int8";
    public const string LlamaCpp = "llamacpp";
    public const string LlamaCppQ8 = "llamacpp_q8";
    public const string LlamaCppQ4 = "llamacpp_q4";
    public const string OrtGenAiProject = "AutoGlm.Benchmarks.OrtGenAI";

    /// <summary>The default set; cluster_int8 (the int8-weight variant), llamacpp_q8 and llamacpp_q4 run when named.</summary>
    public static IReadOnlyList<string> All { get; } = [Cluster, ClusterHttp, Stateless, OrtGenAi, LlamaCpp, Cluster1Silo1Thread, Cluster2Silos1Thread];

    public static IReadOnlyList<string> Known { get; } = [.. All, ClusterInt8, LlamaCppQ8, LlamaCppQ4];

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

            case Cluster or Cluster1Silo1Thread or Cluster2Silos1Thread or ClusterInt8:
            {
                var variant = name == ClusterInt8 ? "int8" : null;
                var (silos, threads) = name switch
                {
                    Cluster1Silo1Thread => (1, 1),
                    Cluster2Silos1Thread => (2, 1),
                    _ => (1, settings.IntraOpThreads),
                };
                IReadOnlyList<string> notes =
                [
                    $"{silos} silo(s) in this process on loopback (localhost clustering, in-memory storage), each engine with {threads} intra-op thread(s); "
                    + "an Orleans client through the client library; replies forced to the drawn length (IgnoreEndOfTurn)"
                    + (variant is null ? string.Empty : $"; model variant {variant} (MatMulNBits weights)"),
                ];
                return (new InProcessRunner(name,
                    async (_, ct) => await ClusterSystem.StartAsync(settings.ModelPath, silos, threads, ct, settings.ChunkWindow, variant).ConfigureAwait(false), notes), null);
            }

            case ClusterHttp:
            {
                IReadOnlyList<string> notes =
                [
                    $"1 silo in this process with its HTTP API (Kestrel on loopback, in-memory storage), its engine with {settings.IntraOpThreads} intra-op thread(s) as in cluster; "
                    + "a stateless client POSTs the whole message history to /v1/chat/completions each turn and reads SSE; replies forced to the drawn length "
                    + "(max_tokens, ignore_eos), each chunk's token count from our stream_options.include_token_counts extension; the conversation index maps "
                    + "each history onto the grain holding its token ids (checked every turn through X-Conversation-Id)",
                ];
                return (new InProcessRunner(name,
                    async (_, ct) => await ClusterHttpSystem.StartAsync(settings.ModelPath, settings.IntraOpThreads, ct).ConfigureAwait(false), notes), null);
            }

            case LlamaCpp or LlamaCppQ8 or LlamaCppQ4:
                return LlamaCppRunner(name, name switch { LlamaCppQ8 => "q8_0", LlamaCppQ4 => "q4_0", _ => "f32" }, settings);

            default:
                throw new ArgumentException($"unknown system '{name}' (known: {string.Join(", ", Known)})", nameof(name));
        }
    }

    private static (ISystemRunner? Runner, string? Missing) LlamaCppRunner(string name, string quant, BenchmarkSettings settings)
    {
        var directory = settings.LlamaCppDirectory ?? LlamaCppBuild.DefaultDirectory(settings.RepositoryRoot);
        var model = Inference.Models.ModelFolder.Load(settings.ModelPath);
        var (server, gguf, missing) = LlamaCppBuild.Locate(directory, model.Name, quant);
        var (withheld, why) = WithheldTokens.ForModel(settings.ModelPath);
        if (server is null || gguf is null || withheld is null)
        {
            return (null, missing ?? why);
        }

        IReadOnlyList<string> notes =
        [
            $"llama-server ({LlamaCppBuild.Describe(directory)}) in a child process on loopback, {Path.GetFileName(gguf)}: "
            + string.Join(' ', LlamaCppSystem.Arguments(Path.GetFileName(gguf), 0, settings.ContextLength, settings.IntraOpThreads)).Replace("--parallel 0 --ctx-size 0", $"--parallel C --ctx-size C*{settings.ContextLength}", StringComparison.Ordinal)
            + "; a stateless client POSTs the whole history as token ids to /completion each turn (stream, cache_prompt, greedy, ignore_eos, n_predict = the drawn length); "
            + "cached tokens are the server's timings.cache_n",
        ];
        return (new InProcessRunner(name,
            async (c, ct) => await LlamaCppSystem.StartAsync(server, gguf, c, settings.ContextLength, settings.IntraOpThreads, withheld, ct).ConfigureAwait(false),
            notes), null);
    }
}
