using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Benchmarks.Variants;

/// <summary>
/// The process's resident memory with a variant loaded and N idle conversations held, measured in a child process
/// of its own (this benchmark's executable with <see cref="Verb"/>), so no earlier variant's session, arena or
/// garbage is counted: RSS when the child starts, after the engine is created (model loaded, one warm-up
/// generation), and after the conversations, each after a full garbage collection.
/// </summary>
internal static class RssChild
{
    public const string Verb = "variants-rss-child";

    public static async Task<JsonObject> MeasureAsync(string modelPath, string? variant, int threads, int conversations)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, UseShellExecute = false };
        // Under `dotnet AutoGlm.Benchmarks.dll` the process is dotnet itself: run the same assembly again.
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        start.FileName = self;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetExecutingAssembly().Location);
        }

        foreach (var arg in new[] { Verb, "--model", modelPath, "--variant", variant ?? "", "--threads", threads.ToString(CultureInfo.InvariantCulture), "--conversations", conversations.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {self}");
        var output = await child.StandardOutput.ReadToEndAsync();
        await child.WaitForExitAsync();
        if (child.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Verb} exited with {child.ExitCode}");
        }

        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return JsonNode.Parse(line)?.AsObject() ?? throw new InvalidDataException($"{Verb}: no result");
    }

    /// <summary>The child's side: measures, prints one JSON line, exits.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        string? model = null;
        string? variant = null;
        var threads = Environment.ProcessorCount;
        var conversations = 500;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--model": model = args[++i]; break;
                case "--variant": variant = args[++i] is { Length: > 0 } v ? v : null; break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--conversations": conversations = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }

        ArgumentNullException.ThrowIfNull(model);
        var before = Rss();
        using var engine = InferenceEngine.Create(new EngineOptions
        {
            ModelPath = model,
            ModelVariant = variant,
            IntraOpThreads = threads,
            // Room for every conversation: none is evicted, all stay resident.
            KvBudgetBytes = 2 * (long)conversations * VariantBenchmark.IdleConversationTokens * KvBytesPerToken(model, variant) + (64L << 20),
            RestoreTierKind = RestoreTierKind.Off,
        });
        var random = new Random(5);
        using (var warm = engine.GetOrCreateHandle("warm-up"))
        {
            await VariantBenchmark.GenerateOneAsync(engine, warm, VariantBenchmark.RandomTokens(random, 16));
        }

        var loaded = Rss();
        var handles = new List<IDisposable>();
        for (var i = 0; i < conversations; i += 8)
        {
            var batch = new List<Task>();
            for (var j = i; j < Math.Min(conversations, i + 8); j++)
            {
                var handle = engine.GetOrCreateHandle($"idle-{j}");
                handles.Add(handle);
                batch.Add(VariantBenchmark.GenerateOneAsync(engine, handle, VariantBenchmark.RandomTokens(random, VariantBenchmark.IdleConversationTokens - 1)));
            }

            await Task.WhenAll(batch);
        }

        var idle = Rss();
        var pool = engine.Pool.Snapshot();
        var result = new JsonObject
        {
            ["measured_in"] = "child process",
            ["conversations"] = conversations,
            ["tokens_each"] = VariantBenchmark.IdleConversationTokens,
            ["resident"] = pool.Sequences,
            ["evictions"] = pool.Evictions,
            ["kv_pool_used_bytes"] = pool.UsedBytes,
            ["rss_start_bytes"] = before,
            ["rss_engine_bytes"] = loaded,
            ["rss_idle_bytes"] = idle,
            ["engine_delta_bytes"] = loaded - before,
            ["conversations_delta_bytes"] = idle - loaded,
        };
        Console.WriteLine(result.ToJsonString());
        GC.KeepAlive(handles);
        return 0;

        static long KvBytesPerToken(string model, string? variant) =>
            Inference.Models.ModelFolder.Load(model).WithVariant(variant).KvBytesPerToken;
    }

    /// <summary>Resident set size after a full collection (on Linux, Environment.WorkingSet is VmRSS).</summary>
    private static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        return self.WorkingSet64;
    }
}
