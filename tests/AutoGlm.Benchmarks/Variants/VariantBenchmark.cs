using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Benchmarks.Variants;

/// <summary>
/// What serving one variant of a model (model.json "variants": quantized weights, another KV layout, quantized
/// KV) costs and holds, beside decode speed: time to first token of a long prompt, bytes on disk, KV bytes a token
/// and how many idle conversations fit a KV budget. <paramref name="variant"/> null is the folder's default graph.
/// </summary>
internal sealed class VariantBenchmark(string modelPath, string? variant, int threads, bool quick)
{
    /// <summary>Prompt tokens for the TTFT figure (the engine benchmark's long-history turn is about as long).</summary>
    public const int TtftPromptTokens = 1_500;

    /// <summary>Tokens each idle conversation holds in the capacity and RSS figures.</summary>
    public const int IdleConversationTokens = 200;

    public ModelManifest Manifest { get; } = ModelFolder.Load(modelPath).WithVariant(variant);

    /// <summary>The graph file plus its weights file (as model.json names it; the graph alone when it names none).</summary>
    public (long Onnx, long Weights) FileBytes()
    {
        var onnx = new FileInfo(Path.Combine(modelPath, Manifest.OnnxFile)).Length;
        var weights = Manifest.WeightsFile is { } file ? new FileInfo(Path.Combine(modelPath, file)).Length : 0;
        return (onnx, weights);
    }

    /// <summary>
    /// Median of three first-token times of a <see cref="TtftPromptTokens"/>-token prompt on a fresh handle (after
    /// one untimed run), the whole prompt in one prefill step (MaxTokensPerStep 2,048, as the engine benchmark's
    /// multi-turn figure runs).
    /// </summary>
    public async Task<double> TtftMsAsync()
    {
        using var engine = InferenceEngine.Create(new EngineOptions
        {
            ModelPath = modelPath,
            ModelVariant = variant,
            IntraOpThreads = threads,
            MaxTokensPerStep = 2048,
            KvBudgetBytes = 256L << 20,
            RestoreTierKind = RestoreTierKind.Off,
        });
        var random = new Random(3);
        var times = new List<double>();
        for (var run = 0; run < 4; run++)
        {
            var prompt = RandomTokens(random, TtftPromptTokens);
            using var handle = engine.GetOrCreateHandle($"ttft-{run}");
            var started = Stopwatch.GetTimestamp();
            var request = new GenerationRequest(handle, prompt, new SamplingOptions { Temperature = 0f, MaxNewTokens = 1 }) { StopTokenIds = [] };
            await foreach (var chunk in engine.Submit(request).ReadAllAsync())
            {
                if (chunk.TokenId is not null)
                {
                    break;
                }
            }

            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (run > 0)
            {
                times.Add(elapsed);
            }
        }

        return times.Order().ElementAt(times.Count / 2);
    }

    /// <summary>
    /// Conversations of <see cref="IdleConversationTokens"/> tokens (prompt plus one generated token) that an engine
    /// with a KV budget of <paramref name="budgetBytes"/> holds at once: conversations are added one at a time until
    /// the pool evicts one; the count resident then is the measure. No restore tier, so an eviction is final.
    /// </summary>
    public async Task<(int Resident, long UsedBytes)> ResidentConversationsAsync(long budgetBytes)
    {
        using var engine = InferenceEngine.Create(new EngineOptions
        {
            ModelPath = modelPath,
            ModelVariant = variant,
            IntraOpThreads = threads,
            KvBudgetBytes = budgetBytes,
            RestoreTierKind = RestoreTierKind.Off,
        });
        var random = new Random(4);
        var handles = new List<IDisposable>();
        try
        {
            for (var i = 0; ; i++)
            {
                var before = engine.Pool.Snapshot();
                var handle = engine.GetOrCreateHandle($"idle-{i}");
                handles.Add(handle);
                await GenerateOneAsync(engine, handle, RandomTokens(random, IdleConversationTokens - 1));
                var after = engine.Pool.Snapshot();
                if (after.Evictions > 0 || i > 1_000_000)
                {
                    return (after.Sequences, before.UsedBytes);
                }
            }
        }
        finally
        {
            foreach (var handle in handles)
            {
                handle.Dispose();
            }
        }
    }

    /// <summary>Random ordinary tokens (as the engine benchmark's prompts): their values do not change the work.</summary>
    internal static int[] RandomTokens(Random random, int count)
    {
        var tokens = new int[count];
        for (var i = 0; i < tokens.Length; i++)
        {
            tokens[i] = random.Next(200, 40000);
        }

        return tokens;
    }

    internal static async Task GenerateOneAsync(InferenceEngine engine, Inference.KvCache.KvCacheHandle handle, int[] prompt)
    {
        var request = new GenerationRequest(handle, prompt, new SamplingOptions { Temperature = 0f, MaxNewTokens = 1 }) { StopTokenIds = [] };
        await foreach (var _ in engine.Submit(request).ReadAllAsync())
        {
        }
    }

    /// <summary>Decode tokens a second through the scheduler at <paramref name="batch"/> rows of a 512-token context.</summary>
    public async Task<double> DecodeAsync(int batch) =>
        (await new EngineBenchmark(modelPath, variant, threads, quick, spinning: EngineOptions.DefaultIntraOpSpinning).SchedulerDecodeAsync(batch, 512)).TokensPerSecond;
}
