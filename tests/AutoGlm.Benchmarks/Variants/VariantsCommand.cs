using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Testing.Quality;

namespace AutoGlm.Orleans.Benchmarks.Variants;

/// <summary>
/// `variants --variants default,int8,int4 [--json FILE] [--model DIR] [--threads N] [--quick] [--only SECTIONS]`:
/// each variant of the model (any key of model.json "variants"; "default" is the folder's own graph) side by side:
/// decode tokens a second at batch 1/8/32 (512-token context) through the scheduler, TTFT of a 1,500-token prompt,
/// file sizes, KV bytes a token, idle conversations per GiB of KV budget, a child process's RSS with idle
/// conversations, and greedy agreement and perplexity against the float32 default on models/tiny-chat/quality.json.
/// </summary>
internal static class VariantsCommand
{
    public const string Usage = "variants [--variants default,int8,int4] [--json FILE] [--model DIR] [--threads N] [--quick] [--only decode,ttft,size,capacity,rss,quality]";

    private static readonly string[] AllSections = ["decode", "ttft", "size", "capacity", "rss", "quality"];

    public static async Task<int> RunAsync(string[] args, string defaultModel)
    {
        string? json = null;
        var model = defaultModel;
        var threads = Environment.ProcessorCount;
        var quick = false;
        string[] variants = ["default", "int8", "int4"];
        var sections = new HashSet<string>(AllSections);
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = args[++i]; break;
                case "--model": model = args[++i]; break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--quick": quick = true; break;
                case "--variants": variants = args[++i].Split(','); break;
                case "--only": sections = [.. args[++i].Split(',')]; break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }

        var manifest = ModelFolder.Load(model);
        foreach (var name in variants.Where(v => v != "default"))
        {
            // Fails here, before anything runs, with the known names.
            _ = manifest.WithVariant(name);
        }

        if (sections.Except(AllSections).FirstOrDefault() is { } unknown)
        {
            Console.Error.WriteLine($"unknown section '{unknown}' (known: {string.Join(", ", AllSections)})");
            return 2;
        }

        // --quick: a smoke run (every figure, small counts), not numbers to report.
        int[] batches = quick ? [1, 8] : [1, 8, 32];
        var rssConversations = quick ? 24 : 500;
        var capacityBudget = quick ? 16L << 20 : 256L << 20;
        QualitySet? set = null;
        QualityBaseline? baseline = null;
        if (sections.Contains("quality"))
        {
            set = QualitySet.Load(model);
            set = quick ? set.Take(prompts: 4, greedyNewTokens: 8, validationTokens: 512, windowTokens: 128) : set;
            Console.Error.WriteLine($"quality: float32 baseline on {set.Prompts.Count} prompts × {set.GreedyNewTokens} tokens, {set.ValidationTokens} validation tokens");
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            baseline = await VariantQuality.BaselineAsync(model, set, threads);
            Console.Error.WriteLine($"quality: baseline perplexity {baseline.Perplexity.Value:F3} ({System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s)");
        }

        var byVariant = new JsonObject();
        foreach (var name in variants)
        {
            var variant = name == "default" ? null : name;
            var bench = new VariantBenchmark(model, variant, threads, quick);
            var row = new JsonObject
            {
                ["onnx_file"] = bench.Manifest.OnnxFile,
                ["weights_file"] = bench.Manifest.WeightsFile,
                ["quantization"] = bench.Manifest.Quantization is { } q ? JsonSerializer.SerializeToNode(q, ModelManifest.JsonOptions) : null,
                ["kv_bytes_per_token"] = bench.Manifest.KvBytesPerToken,
            };
            if (sections.Contains("size"))
            {
                var (onnx, weights) = bench.FileBytes();
                row["onnx_bytes"] = onnx;
                row["weights_bytes"] = weights;
                row["file_bytes"] = onnx + weights;
                Console.Error.WriteLine($"[{name}] files: {onnx + weights:N0} bytes ({(onnx + weights) / 1048576.0:F2} MiB)");
            }

            if (sections.Contains("decode"))
            {
                var decode = new JsonArray();
                foreach (var batch in batches)
                {
                    var tps = await bench.DecodeAsync(batch);
                    Console.Error.WriteLine($"[{name}] decode batch {batch,2} context 512: {tps,8:F1} tok/s");
                    decode.Add(new JsonObject { ["batch"] = batch, ["context"] = 512, ["scheduler_tokens_per_s"] = Math.Round(tps, 1) });
                }

                row["decode"] = decode;
            }

            if (sections.Contains("ttft"))
            {
                var ttft = await bench.TtftMsAsync();
                Console.Error.WriteLine($"[{name}] ttft {VariantBenchmark.TtftPromptTokens} tokens: {ttft:F1} ms");
                row["ttft_ms"] = Math.Round(ttft, 2);
                row["ttft_prompt_tokens"] = VariantBenchmark.TtftPromptTokens;
            }

            if (sections.Contains("capacity"))
            {
                var (resident, used) = await bench.ResidentConversationsAsync(capacityBudget);
                var perGiB = resident * (double)(1L << 30) / capacityBudget;
                Console.Error.WriteLine($"[{name}] {resident} idle conversations of {VariantBenchmark.IdleConversationTokens} tokens in {capacityBudget >> 20} MiB of KV budget: {perGiB:F0} per GiB");
                row["capacity"] = new JsonObject
                {
                    ["kv_budget_bytes"] = capacityBudget,
                    ["tokens_each"] = VariantBenchmark.IdleConversationTokens,
                    ["resident_at_first_eviction"] = resident,
                    ["pool_used_bytes_before_eviction"] = used,
                    ["conversations_per_gib"] = Math.Round(perGiB, 1),
                };
            }

            if (sections.Contains("rss"))
            {
                var rss = await RssChild.MeasureAsync(model, variant, threads, rssConversations);
                Console.Error.WriteLine($"[{name}] rss: engine +{rss["engine_delta_bytes"]!.GetValue<long>() / 1048576.0:F1} MiB, {rssConversations} idle conversations +{rss["conversations_delta_bytes"]!.GetValue<long>() / 1048576.0:F1} MiB");
                row["rss"] = rss;
            }

            if (set is not null && baseline is not null)
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var figures = await VariantQuality.MeasureAsync(model, variant, baseline, threads);
                var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
                Console.Error.WriteLine($"[{name}] agreement teacher-forced {figures.TeacherForcedAgreement:P1}, free-running {figures.FreeRunningAgreement!.Value:P1} over {figures.Positions} positions; perplexity {figures.Perplexity.Value:F3} vs {figures.BaselinePerplexity.Value:F3} ({figures.PerplexityRatio:F4}x), {seconds:F1} s");
                row["quality"] = new JsonObject
                {
                    ["prompts"] = set.Prompts.Count,
                    ["positions"] = figures.Positions,
                    ["teacher_forced_agreement"] = Math.Round(figures.TeacherForcedAgreement, 4),
                    ["free_running_agreement"] = Math.Round(figures.FreeRunningAgreement!.Value, 4),
                    ["validation_tokens_scored"] = figures.Perplexity.Tokens,
                    ["perplexity"] = Math.Round(figures.Perplexity.Value, 4),
                    ["perplexity_fp32"] = Math.Round(figures.BaselinePerplexity.Value, 4),
                    ["perplexity_ratio"] = Math.Round(figures.PerplexityRatio, 5),
                };
            }

            byVariant[name] = row;
        }

        var result = new JsonObject
        {
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["intra_op_threads"] = threads,
                ["model"] = Path.GetFileName(model.TrimEnd('/')),
                ["quick"] = quick,
            },
            ["variants"] = byVariant,
        };
        var text = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        if (json is not null)
        {
            await File.WriteAllTextAsync(json, text + Environment.NewLine);
        }

        return 0;
    }
}
