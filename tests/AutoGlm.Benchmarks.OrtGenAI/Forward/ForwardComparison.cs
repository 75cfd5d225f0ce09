using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;

namespace AutoGlm.Orleans.Benchmarks.OrtGenAI.Forward;

/// <summary>
/// Decode of one model by ONNX Runtime GenAI, our raw forward and our engine (at batch 1; at a larger batch without
/// GenAI, whose C# API does not batch), each optionally under another spinning policy, in one process on one ONNX
/// Runtime library, window after window in an order that rotates each round. Separate runs of a system drift with
/// the shared machine (one configuration's 64-step window read 59–77 ms on this VM), so a C = 1 ratio of two runs
/// minutes apart cannot tell a per-token gap from noise: adjacent windows can. The figure is the median of each
/// round's ratio.
/// </summary>
internal static class ForwardComparison
{
    /// <summary>
    /// A pause before each window: spinning intra-op threads (ONNX Runtime's default, which GenAI keeps) burn 20–50 ms
    /// of a core after a run returns, which would otherwise fall into the next system's window.
    /// </summary>
    private static readonly TimeSpan QuietGap = TimeSpan.FromMilliseconds(250);

    public static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        string? modelPath = null, jsonPath = null;
        string[] names = ["ortgenai", "raw", "engine"];
        int promptLength = 512, rounds = 9, window = 32, batch = 1, threads = Math.Max(1, Environment.ProcessorCount);
        for (var i = 0; i < args.Length; i++)
        {
            int Int() => int.Parse(args[++i], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--model": modelPath = args[++i]; break;
                case "--json": jsonPath = args[++i]; break;
                case "--prompt": promptLength = Int(); break;
                case "--rounds": rounds = Int(); break;
                case "--window": window = Int(); break;
                case "--batch": batch = Int(); break;
                case "--threads": threads = Int(); break;
                case "--systems": names = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; usage: forward --model DIR [--prompt 512] [--rounds 9] [--window 32] [--batch 1] [--threads N] [--systems ortgenai,raw,engine,engine-off,engine-within-run,engine-always,raw-always] [--json FILE]");
                    return 2;
            }
        }

        // "engine" and "raw" run with the engine's default spinning policy; a "-off", "-within-run" or "-always"
        // suffix names another (IntraOpSpinning), so one run compares policies side by side.
        string[] known = ["ortgenai", .. new[] { "raw", "engine" }.SelectMany(s => new[] { s, s + "-off", s + "-within-run", s + "-always" })];
        if (modelPath is null || rounds < 1 || window < 2 || names.Length < 2 || names.Distinct().Count() != names.Length || names.Except(known).Any())
        {
            Console.Error.WriteLine($"forward needs --model DIR, at least 1 round, a window of at least 2 steps and two or more distinct systems of {string.Join(", ", known)}");
            return 2;
        }

        if (batch < 1 || batch > 1 && names.Contains("ortgenai"))
        {
            // GenAI's C# API runs one sequence per generator: no batch of its own to compare with.
            Console.Error.WriteLine("--batch takes 1 or more rows, and more than 1 only without ortgenai (its C# API does not batch)");
            return 2;
        }

        if (names.Contains("ortgenai") && !File.Exists(Path.Combine(modelPath, "model.json")) && !GenAiConfig.IsGenAiExport(modelPath))
        {
            // An Optimum folder (config.json only): our engine loads it, GenAI has no configuration to read.
            Console.Error.WriteLine($"{modelPath}: GenAI needs a genai_config.json (a model builder export) or our model.json to derive one from");
            return 2;
        }

        var manifest = ModelFolder.Load(modelPath);
        var totalSteps = (rounds + 1) * (window + 1) + 8;
        if (promptLength + totalSteps > manifest.ContextLength)
        {
            Console.Error.WriteLine($"a {promptLength}-token prompt and {totalSteps} steps do not fit the model's {manifest.ContextLength}-token context");
            return 2;
        }

        // Ordinary token ids, the same for every system; what they are does not change a forward's cost.
        var prompt = Enumerable.Range(0, promptLength).Select(i => 200 + (i * 7919) % Math.Min(manifest.VocabSize - 200, 40000)).ToArray();
        var systems = new List<IWindowDecoder>();
        try
        {
            foreach (var name in names)
            {
                systems.Add(name switch
                {
                    "ortgenai" => new GenAiDecoder(modelPath, manifest.ContextLength, threads, prompt),
                    _ when name.StartsWith("raw", StringComparison.Ordinal) => new RawDecoder(name, modelPath, threads, SpinningOf(name), promptLength, totalSteps, batch),
                    _ => new EngineDecoder(name, modelPath, threads, SpinningOf(name), prompt, batch),
                });
            }

            var windows = systems.ToDictionary(s => s.Name, _ => new List<double>());
            foreach (var system in systems)
            {
                await system.DecodeWindowAsync(window, cancellationToken).ConfigureAwait(false);
            }

            for (var round = 0; round < rounds; round++)
            {
                for (var k = 0; k < systems.Count; k++)
                {
                    var system = systems[(round + k) % systems.Count];
                    await Task.Delay(QuietGap, cancellationToken).ConfigureAwait(false);
                    var ms = await system.DecodeWindowAsync(window, cancellationToken).ConfigureAwait(false);
                    windows[system.Name].Add(ms);
                }

                Console.Error.WriteLine($"round {round + 1}/{rounds}: " + string.Join("  ", systems.Select(s => $"{s.Name} {windows[s.Name][^1]:F2} ms")));
            }

            var breakdowns = systems.OfType<EngineDecoder>().ToDictionary(e => e.Name, e => e.Breakdown.Skip(1).ToList());
            var report = Report(manifest, modelPath, promptLength, batch, rounds, window, threads, windows, breakdowns);
            Console.WriteLine(report["summary"]!.GetValue<string>());
            if (jsonPath is not null)
            {
                await File.WriteAllTextAsync(jsonPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), cancellationToken).ConfigureAwait(false);
            }

            return 0;
        }
        finally
        {
            foreach (var system in systems)
            {
                system.Dispose();
            }
        }
    }

    private static JsonObject Report(ModelManifest manifest, string modelPath, int promptLength, int batch, int rounds, int window, int threads,
        Dictionary<string, List<double>> windows, Dictionary<string, List<(double ForwardMs, double EmitMs)>> breakdowns)
    {
        // A ratio of tokens a second: the other's milliseconds a step over ours, per round, then the median.
        double Ratio(string ours, string other) => Median(windows[ours].Zip(windows[other], (a, b) => b / a));
        // Every system against GenAI, the engine against raw, and each spinning policy of a system against its others.
        string Base(string system) => system.Split('-')[0];
        var names = windows.Keys.ToList();
        (string Ours, string Other)[] wanted =
        [
            .. names.Where(k => k != "ortgenai" && names.Contains("ortgenai")).Select(k => (k, "ortgenai")),
            .. names.Where(k => Base(k) == "engine").SelectMany(e => names.Where(r => Base(r) == "raw" && r[3..] == e[6..]).Select(r => (e, r))),
            .. names.SelectMany((a, i) => names.Skip(i + 1).Where(b => Base(b) == Base(a) && Base(a) != "ortgenai").Select(b => (b, a))),
        ];
        var ratios = new JsonObject();
        foreach (var (ours, other) in wanted.Distinct())
        {
            ratios[$"{ours} / {other}"] = Math.Round(Ratio(ours, other), 3);
        }

        var perSystem = new JsonObject();
        foreach (var (name, values) in windows)
        {
            perSystem[name] = new JsonObject
            {
                ["median_ms_per_step"] = Math.Round(Median(values), 2),
                ["mean_ms_per_step"] = Math.Round(values.Average(), 2),
                ["windows_ms_per_step"] = new JsonArray([.. values.Select(v => (JsonNode)Math.Round(v, 2))]),
            };
        }

        foreach (var (name, breakdown) in breakdowns)
        {
            perSystem[name]!["mean_forward_ms_per_step"] = Math.Round(breakdown.Average(b => b.ForwardMs), 3);
            perSystem[name]!["mean_sampling_emission_ms_per_step"] = Math.Round(breakdown.Average(b => b.EmitMs), 3);
        }

        var summary = $"{manifest.Name}, batch {batch} from {promptLength} tokens, {rounds} rounds of {window} steps, {threads} threads: "
            + string.Join(", ", windows.Select(w => $"{w.Key} {Median(w.Value):F2} ms a step (median; mean {w.Value.Average():F2})"))
            + string.Concat(breakdowns.Select(b => $"; {b.Key}'s step: forward {b.Value.Average(x => x.ForwardMs):F2} ms, sampling+emission {b.Value.Average(x => x.EmitMs):F3} ms (means)"))
            + "; tokens a second, median of the rounds' ratios: " + string.Join(", ", ratios.Select(r => $"{r.Key} {r.Value!.GetValue<double>():F3}"));
        return new JsonObject
        {
            ["benchmark"] = "forward",
            ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["model"] = manifest.Name,
            ["model_path"] = Path.GetFileName(Path.GetFullPath(modelPath).TrimEnd('/')),
            ["prompt_tokens"] = promptLength,
            ["batch"] = batch,
            ["rounds"] = rounds,
            ["window_steps"] = window,
            ["intra_op_threads"] = threads,
            ["onnxruntime"] = "CPU package, one library for every system (GenAI's dependency)",
            ["systems"] = perSystem,
            ["ratios_tokens_per_s"] = ratios,
            ["summary"] = summary,
        };
    }

    private static IntraOpSpinning SpinningOf(string system) => system.IndexOf('-', StringComparison.Ordinal) is var dash and > 0
        ? Enum.Parse<IntraOpSpinning>(system[(dash + 1)..].Replace("-", "", StringComparison.Ordinal), ignoreCase: true)
        : EngineOptions.DefaultIntraOpSpinning;

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
