using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks;

/// <summary>
/// `engine ...`: the engine benchmark in one run; `multiturn ...`: the multi-turn comparison of systems; `state ...`:
/// what conversation state costs (bytes a turn writes, time to refuse bad input); `responses ...`: what the stateful
/// OpenAI APIs (previous_response_id chains, forks, truncation) cost and save over HTTP; `drain ...`: a conversation's next
/// turn after its silo drains and its KV moves with it, against one that never moved and one that recomputes;
/// `variants ...`: the model's variants (quantized weights, other layouts) side by side: speed, memory, quality.
/// </summary>
internal static class BenchmarkCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("usage: AutoGlm.Benchmarks engine [--json FILE] [--model DIR] [--threads N] [--quick] [--steps N] [--spinning off|within-run|always] [--turns N] [--contexts 512,1536] [--batches 1,8,32] [--raw-padding N] [--only decode,multiturn] [--layouts shared,optimum] [--device cpu|cuda]");
            Console.WriteLine("       AutoGlm.Benchmarks " + MultiTurn.MultiTurnCommand.Usage);
            Console.WriteLine("       AutoGlm.Benchmarks " + State.StateCommand.Usage);
            Console.WriteLine("       AutoGlm.Benchmarks " + Responses.ResponsesCommand.Usage);
            Console.WriteLine("       AutoGlm.Benchmarks " + Drain.DrainCommand.Usage);
            Console.WriteLine("       AutoGlm.Benchmarks " + Variants.VariantsCommand.Usage);
            return args.Length == 0 ? 2 : 0;
        }

        if (args[0] == "multiturn")
        {
            var defaultModel = args.Contains("--model") ? "" : FindDefaultModel();
            return await MultiTurn.MultiTurnCommand.RunAsync(args, defaultModel, FindRepositoryRoot());
        }

        if (args[0] == "state")
        {
            return await State.StateCommand.RunAsync(args, args.Contains("--model") ? "" : FindDefaultModel());
        }

        if (args[0] == "responses")
        {
            return await Responses.ResponsesCommand.RunAsync(args, args.Contains("--model") ? "" : FindDefaultModel());
        }

        if (args[0] == "drain")
        {
            return await Drain.DrainCommand.RunAsync(args, args.Contains("--model") ? "" : FindDefaultModel());
        }

        if (args[0] == "variants")
        {
            return await Variants.VariantsCommand.RunAsync(args, args.Contains("--model") ? "" : FindDefaultModel());
        }

        if (args[0] == Variants.RssChild.Verb)
        {
            return await Variants.RssChild.RunAsync(args);
        }

        if (args[0] != "engine")
        {
            Console.Error.WriteLine($"unknown benchmark '{args[0]}' (known: engine, multiturn, state, responses, drain, variants)");
            return 2;
        }

        string? json = null;
        var model = FindDefaultModel();
        var threads = Environment.ProcessorCount;
        var quick = false;
        var steps = 0;
        // The engine as it ships unless --spinning says otherwise.
        var spinning = AutoGlm.Orleans.Inference.Engine.EngineOptions.DefaultIntraOpSpinning;
        var turns = 10;
        int[]? contexts = null;
        int[]? batches = null;
        var rawPadding = 0;
        var sections = new HashSet<string> { "decode", "multiturn" };
        string[] layouts = ["shared", "optimum"];
        var device = AutoGlm.Orleans.Inference.Runtime.ExecutionDevice.Cpu;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = args[++i]; break;
                case "--model": model = args[++i]; break;
                case "--threads": threads = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--quick": quick = true; break;
                case "--steps": steps = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--spinning": spinning = Enum.Parse<AutoGlm.Orleans.Inference.Runtime.IntraOpSpinning>(args[++i].Replace("-", "", StringComparison.Ordinal), ignoreCase: true); break;
                case "--turns": turns = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--contexts": contexts = [.. args[++i].Split(',').Select(c => int.Parse(c, System.Globalization.CultureInfo.InvariantCulture))]; break;
                case "--raw-padding": rawPadding = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--batches": batches = [.. args[++i].Split(',').Select(c => int.Parse(c, System.Globalization.CultureInfo.InvariantCulture))]; break;
                case "--only": sections = [.. args[++i].Split(',')]; break;
                case "--layouts": layouts = args[++i].Split(','); break;
                case "--device": device = Enum.Parse<AutoGlm.Orleans.Inference.Runtime.ExecutionDevice>(args[++i], ignoreCase: true); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }

        var result = new JsonObject
        {
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["intra_op_threads"] = threads,
                ["intra_op_spinning"] = spinning.ToString(),
                ["device"] = device.ToString(),
                ["model"] = Path.GetFileName(model.TrimEnd('/')),
            },
        };
        // Each KV layout of the same weights, one after the other in this run: the shared-buffer graph (the
        // default) and the Optimum Concat graph.
        var byLayout = new JsonObject();
        foreach (var layout in layouts)
        {
            var (layoutModel, variant) = LayoutOf(model, layout);
            var bench = new EngineBenchmark(layoutModel, variant, threads, quick, spinning, device, steps, layout)
            {
                Contexts = contexts ?? EngineBenchmark.DefaultContexts,
                Batches = batches ?? EngineBenchmark.DefaultBatches(device),
                RawPadding = rawPadding,
            };
            var section = new JsonObject();
            if (sections.Contains("decode"))
            {
                section["decode"] = await bench.DecodeAsync();
            }

            if (sections.Contains("multiturn"))
            {
                section["multiturn"] = await bench.MultiTurnAsync(turns);
            }

            byLayout[layout] = section;
        }

        result["layouts"] = byLayout;

        var text = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        if (json is not null)
        {
            await File.WriteAllTextAsync(json, text);
        }

        return 0;
    }

    /// <summary>The checkout the benchmark runs from (where the solution is): the ortgenai child is built there.</summary>
    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AutoGlm.Orleans.sln")))
            {
                return dir.FullName;
            }
        }

        return Directory.GetCurrentDirectory();
    }

    /// <summary>
    /// The folder and variant of a layout: a model.json folder holds both graphs (the Optimum one as variant
    /// "optimum"); a family export (tools/model/random_family.py, family_export.py) has a folder per layout, gqa/
    /// (genai_config.json, the shared-buffer graph) and optimum/ (config.json, the Concat graph), and any other
    /// folder beside them is a layout of that name (quantize.py --folder-out writes e.g. gqa-int8/, optimum-int8/).
    /// </summary>
    private static (string Model, string? Variant) LayoutOf(string model, string layout)
    {
        var folder = Path.Combine(model, layout == "shared" ? "gqa" : layout);
        if (!File.Exists(Path.Combine(model, "model.json")) && Directory.Exists(folder))
        {
            return (folder, null);
        }

        return (model, layout == "shared" ? null : layout);
    }

    private static string FindDefaultModel()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models", "tiny-chat");
            if (File.Exists(Path.Combine(candidate, "model.json")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("models/tiny-chat not found above the benchmark; pass --model DIR");
    }
}
