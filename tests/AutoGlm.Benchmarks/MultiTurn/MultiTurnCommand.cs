using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Inference.Models;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// `multiturn`: one workload, every available system one after the other (never side by side: they would share
/// the cores), one result file. Systems that are not in this build are listed under "missing" with the reason.
/// </summary>
internal static class MultiTurnCommand
{
    public const string Usage =
        "multiturn [--json FILE] [--svg FILE] [--model DIR] [--systems a,b,...] [--conversations N] [--turns T]\n"
        + "          [--concurrency C[,C2,...]] [--user-tokens DIST] [--reply-tokens DIST] [--seed S] [--threads N]\n"
        + "          [--chunk-window MS (the cluster's Conversations:ChunkWindow; default: the silo's)]\n"
        + "          [--stateless-workers W] [--ortgenai-dll PATH] [--llamacpp-dir DIR] [--quick]\n"
        + "  DIST: constant:V | uniform:MIN:MAX | normal:MEAN:STDDEV[:MIN:MAX] | lognormal:MEAN:SIGMA[:MIN:MAX]\n"
        + "  systems: cluster, cluster_http, stateless, ortgenai, llamacpp, cluster_1silo_1thread, cluster_2silos_1thread (default: these),\n"
        + "           cluster_int8 (our int8 weights), llamacpp_q8, llamacpp_q4 (llama.cpp on q8_0 / q4_0 weights; build: " + LlamaCppBuild.BuildCommand + ")";

    public static async Task<int> RunAsync(string[] args, string defaultModel, string repositoryRoot)
    {
        string? jsonPath = null;
        string? svgPath = null;
        var model = defaultModel;
        var systems = SystemCatalog.All.ToList();
        var options = new WorkloadOptions();
        var threads = Environment.ProcessorCount;
        int? workers = null;
        string? ortGenAi = null;
        TimeSpan? chunkWindow = null;
        string? llamaCpp = null;
        for (var i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--json": jsonPath = Next(); break;
                case "--svg": svgPath = Next(); break;
                case "--model": model = Next(); break;
                case "--systems": systems = [.. Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]; break;
                case "--conversations": options = options with { Conversations = Int() }; break;
                case "--turns": options = options with { Turns = Int() }; break;
                case "--concurrency":
                    options = options with { Concurrencies = [.. Next().Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture))] };
                    break;
                case "--user-tokens": options = options with { UserTokens = LengthDistribution.Parse(Next()) }; break;
                case "--reply-tokens": options = options with { ReplyTokens = LengthDistribution.Parse(Next()) }; break;
                case "--seed": options = options with { Seed = Int() }; break;
                case "--threads": threads = Int(); break;
                case "--stateless-workers": workers = Int(); break;
                case "--ortgenai-dll": ortGenAi = Next(); break;
                case "--chunk-window": chunkWindow = TimeSpan.FromMilliseconds(double.Parse(Next(), CultureInfo.InvariantCulture)); break;
                case "--llamacpp-dir": llamaCpp = Next(); break;
                case "--quick": options = WorkloadOptions.Quick with { Seed = options.Seed }; break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}\nusage: {Usage}");
                    return 2;
            }
        }

        if (options.Conversations < 1 || options.Turns < 1 || options.Concurrencies.Count == 0 || options.Concurrencies.Any(c => c < 1))
        {
            Console.Error.WriteLine("conversations, turns and every concurrency must be at least 1");
            return 2;
        }

        var manifest = ModelFolder.Load(model);
        var workload = Workload.Build(options, model);
        var promptByTurn = workload.MeanPromptTokensByTurn();
        Console.Error.WriteLine(
            $"workload: {options.Conversations} conversations x {options.Turns} turns, concurrency {string.Join(",", options.Concurrencies)}, "
            + $"user {options.UserTokens}, reply {options.ReplyTokens}, seed {options.Seed}; model {manifest.Name} (context {manifest.ContextLength}); "
            + $"mean prompt at the last turn {promptByTurn[^1]:F0} tokens");
        if (workload.ScaledConversations > 0)
        {
            Console.Error.WriteLine(
                $"note: {workload.ScaledConversations} conversations were scaled down to fit the {manifest.ContextLength}-token context");
        }

        var settings = new BenchmarkSettings
        {
            ModelPath = model,
            ContextLength = manifest.ContextLength,
            RepositoryRoot = repositoryRoot,
            IntraOpThreads = threads,
            StatelessWorkers = workers ?? Environment.ProcessorCount,
            OrtGenAiAssembly = ortGenAi,
            ChunkWindow = chunkWindow,
            LlamaCppDirectory = llamaCpp,
        };

        var results = new JsonObject();
        var missing = new JsonObject();
        var notes = new JsonObject();
        var stats = new Dictionary<string, IReadOnlyList<SystemStats>>();
        foreach (var name in systems)
        {
            var (runner, why) = SystemCatalog.Create(name, settings);
            if (runner is null)
            {
                Console.Error.WriteLine($"{name}: missing: {why}");
                missing[name] = why;
                continue;
            }

            try
            {
                var runs = await runner.RunAsync(workload, CancellationToken.None);
                var perConcurrency = runs.Select(r => SystemStats.From(r, options.Turns)).ToList();
                stats[name] = perConcurrency;
                var main = perConcurrency[0].ToJson();
                if (perConcurrency.Count > 1)
                {
                    main["by_concurrency"] = new JsonArray([.. perConcurrency.Select(s => (JsonNode?)s.ToJson())]);
                }

                results[name] = main;
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or InvalidDataException)
            {
                Console.Error.WriteLine($"{name}: failed: {ex.Message}");
                missing[name] = "failed: " + ex.Message;
            }

            if (runner.Notes.Count > 0)
            {
                notes[name] = new JsonArray([.. runner.Notes.Select(n => (JsonNode?)n)]);
            }
        }

        var result = new JsonObject
        {
            ["workload"] = new JsonObject
            {
                ["conversations"] = options.Conversations,
                ["turns"] = options.Turns,
                ["concurrency"] = new JsonArray([.. options.Concurrencies.Select(c => (JsonNode?)c)]),
                ["user_tokens"] = options.UserTokens.Spec,
                ["reply_tokens"] = options.ReplyTokens.Spec,
                ["seed"] = options.Seed,
                ["model"] = manifest.Name,
                ["context_length"] = manifest.ContextLength,
                ["scaled_conversations"] = workload.ScaledConversations,
                ["prompt_tokens_mean_by_turn"] = new JsonArray([.. promptByTurn.Select(p => (JsonNode?)Math.Round(p, 1))]),
                ["sampling"] = "greedy; replies forced to the drawn length (no stop token, max new tokens = length)",
            },
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["intra_op_threads"] = threads,
            },
            ["systems"] = results,
            ["missing"] = missing,
            ["notes"] = notes,
            ["http_connection_retries"] = HttpSse.Retries,
        };
        var text = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        WriteTable(stats);
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, text);
            svgPath ??= Path.ChangeExtension(jsonPath, ".svg");
        }

        if (svgPath is not null && stats.Count > 0)
        {
            await File.WriteAllTextAsync(svgPath, Plot(stats, options));
            Console.Error.WriteLine($"plot: {svgPath}");
        }

        return 0;
    }

    private static string Plot(Dictionary<string, IReadOnlyList<SystemStats>> stats, WorkloadOptions options)
    {
        var ttft = new SvgChart($"TTFT p50 by turn (C={options.Concurrencies[0]})", "turn", "TTFT p50 (ms)");
        foreach (var (name, runs) in stats)
        {
            ttft.Add(name, [.. runs[0].ByTurn.Select((t, i) => ((double)(i + 1), t.TtftP50))]);
        }

        var charts = new List<SvgChart> { ttft };
        if (options.Concurrencies.Count > 1)
        {
            var throughput = new SvgChart("Output throughput by concurrency", "concurrency (clients)", "output tokens/s");
            foreach (var (name, runs) in stats)
            {
                throughput.Add(name, [.. runs.Select(r => ((double)r.Run.Concurrency, r.OutputTokensPerSecond)).OrderBy(p => p.Item1)]);
            }

            charts.Add(throughput);
        }

        return SvgChart.Document(charts);
    }

    /// <summary>A human summary on stderr; the JSON on stdout is the result.</summary>
    private static void WriteTable(Dictionary<string, IReadOnlyList<SystemStats>> stats)
    {
        Console.Error.WriteLine();
        Console.Error.WriteLine($"{"system",-24} {"C",3} {"TTFT p50",9} {"p90",9} {"p99",9} {"ITL p50",8} {"p99",8} {"E2E p50",9} {"tok/s",8} {"req/s",7} {"cache",6} {"last-turn TTFT p50",19}");
        foreach (var (name, runs) in stats)
        {
            foreach (var s in runs)
            {
                var m = s.Summary;
                var errors = s.Errors > 0 ? $"  ({s.Errors} errors)" : "";
                Console.Error.WriteLine(FormattableString.Invariant(
                    $"{name,-24} {s.Run.Concurrency,3} {m.TtftP50,9:F1} {m.TtftP90,9:F1} {m.TtftP99,9:F1} {m.ItlP50,8:F2} {m.ItlP99,8:F2} {m.E2eP50,9:F1} {s.OutputTokensPerSecond,8:F1} {s.RequestsPerSecond,7:F2} {m.CacheHitRate,6:P0} {s.ByTurn[^1].TtftP50,19:F1}{errors}"));
            }
        }
    }
}
