using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Testing.Quality;

/// <summary>
/// How close a model variant (e.g. int8 weights) is to the float32 default, on a <see cref="QualitySet"/>: greedy
/// agreement through the real engine (its scheduler, KV cache and sampler over ONNX Runtime) and teacher-forced
/// perplexity with the raw runner. Shared by the Inference tests, which assert bounds on it, and the benchmark's
/// `variants` command, which reports it.
/// </summary>
internal static class VariantQuality
{
    /// <summary>The float32 model's side: its greedy continuations (the reference) and perplexity.</summary>
    public static async Task<QualityBaseline> BaselineAsync(string modelPath, QualitySet set, int threads, CancellationToken cancellationToken = default)
    {
        using var engine = CreateEngine(modelPath, variant: null, threads);
        var prompts = set.PromptIds(engine);
        var validation = set.ValidationIds(engine);
        var greedy = new int[prompts.Length][];
        for (var i = 0; i < prompts.Length; i++)
        {
            greedy[i] = await GenerateAsync(engine, $"baseline-{i}", prompts[i], set.GreedyNewTokens, cancellationToken);
        }

        var perplexity = Perplexity.Measure(modelPath, engine.Manifest, validation, set.WindowTokens, threads);
        return new QualityBaseline(prompts, greedy, validation, set.WindowTokens, perplexity);
    }

    /// <summary>
    /// The variant against <paramref name="baseline"/>. Teacher-forced agreement: at each position of the float32
    /// greedy continuation, whether the variant's greedy token given the same history (prompt plus the float32
    /// tokens before it) is the float32 token; every position counts once, whatever happened before it. Free-running
    /// agreement: the variant decodes on its own; the tokens it shares with the float32 continuation before the
    /// first difference, over all positions (one early difference costs the rest of that prompt); measured only with
    /// <paramref name="freeRunning"/> (it doubles the decoding).
    /// </summary>
    public static async Task<QualityFigures> MeasureAsync(string modelPath, string? variant, QualityBaseline baseline, int threads,
        bool freeRunning = true, CancellationToken cancellationToken = default)
    {
        using var engine = CreateEngine(modelPath, variant, threads);
        var positions = 0;
        var teacherForced = 0;
        var beforeDivergence = 0;
        for (var i = 0; i < baseline.Prompts.Length; i++)
        {
            var prompt = baseline.Prompts[i];
            var reference = baseline.Greedy[i];
            positions += reference.Length;
            if (freeRunning)
            {
                var free = await GenerateAsync(engine, $"free-{i}", prompt, reference.Length, cancellationToken);
                var same = 0;
                while (same < Math.Min(free.Length, reference.Length) && free[same] == reference[same])
                {
                    same++;
                }

                beforeDivergence += same;
            }

            teacherForced += await TeacherForcedAsync(engine, $"forced-{i}", prompt, reference, cancellationToken);
        }

        var perplexity = Perplexity.Measure(modelPath, engine.Manifest, baseline.Validation, baseline.WindowTokens, threads);
        return new QualityFigures(variant ?? "default", positions, (double)teacherForced / positions,
            freeRunning ? (double)beforeDivergence / positions : null, perplexity, baseline.Perplexity);
    }

    /// <summary>
    /// Positions of <paramref name="reference"/> at which the engine's greedy token, given <paramref name="prompt"/> and
    /// the reference tokens before it, is the reference token. One handle: each request extends the cached history by
    /// the previous reference token, so the engine prefills one token and samples one.
    /// </summary>
    public static async Task<int> TeacherForcedAsync(InferenceEngine engine, string handle, int[] prompt, int[] reference, CancellationToken cancellationToken)
    {
        var agreed = 0;
        var history = new List<int>(prompt);
        foreach (var expected in reference)
        {
            var predicted = await GenerateAsync(engine, handle, [.. history], 1, cancellationToken);
            agreed += predicted.Length == 1 && predicted[0] == expected ? 1 : 0;
            history.Add(expected);
        }

        return agreed;
    }

    private static InferenceEngine CreateEngine(string modelPath, string? variant, int threads) => InferenceEngine.Create(new EngineOptions
    {
        ModelPath = modelPath,
        ModelVariant = variant,
        IntraOpThreads = threads,
        // A few conversations of a few hundred tokens: no need for a quarter of the machine's memory.
        KvBudgetBytes = 256L << 20,
    });

    /// <summary>Greedy decoding of exactly <paramref name="tokens"/> tokens: no stop token ends it early.</summary>
    private static async Task<int[]> GenerateAsync(InferenceEngine engine, string handleId, int[] prompt, int tokens, CancellationToken cancellationToken)
    {
        var request = new GenerationRequest(engine.GetOrCreateHandle(handleId), prompt,
            new SamplingOptions { Temperature = 0f, MaxNewTokens = tokens }) { StopTokenIds = [] };
        var generated = new List<int>(tokens);
        await foreach (var chunk in engine.Submit(request, cancellationToken).ReadAllAsync(cancellationToken))
        {
            if (chunk.TokenId is { } id)
            {
                generated.Add(id);
            }
        }

        return [.. generated];
    }
}

/// <summary>The float32 reference: encoded prompts, their greedy continuations, the validation tokens and their perplexity.</summary>
internal sealed record QualityBaseline(int[][] Prompts, int[][] Greedy, int[] Validation, int WindowTokens, PerplexityResult Perplexity);

/// <summary>One variant's figures against the float32 model.</summary>
internal sealed record QualityFigures(
    string Variant,
    int Positions,
    double TeacherForcedAgreement,
    double? FreeRunningAgreement,
    PerplexityResult Perplexity,
    PerplexityResult BaselinePerplexity)
{
    /// <summary>The variant's perplexity over the float32 model's (1 = no worse).</summary>
    public double PerplexityRatio => Perplexity.Value / BaselinePerplexity.Value;
}
