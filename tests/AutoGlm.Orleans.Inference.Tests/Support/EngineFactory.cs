using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Sampling;
using System.Threading.Channels;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>Engines over the shipped default model, and helpers to drain their streams.</summary>
internal static class EngineFactory
{
    public static InferenceEngine Create(Func<EngineOptions, EngineOptions>? configure = null) => Create(KvLayouts.Shared, configure);

    /// <summary>An engine over one of the default model's KV layouts (<see cref="KvLayouts"/>).</summary>
    public static InferenceEngine Create(string layout, Func<EngineOptions, EngineOptions>? configure = null)
    {
        var options = new EngineOptions { ModelPath = RepositoryPaths.DefaultModel, IntraOpThreads = 2 };
        options = layout switch
        {
            KvLayouts.Shared => options,
            KvLayouts.Optimum => options with { ModelVariant = "optimum" },
            KvLayouts.Int8 => options with { ModelVariant = KvLayouts.Int8 },
            _ => throw new ArgumentOutOfRangeException(nameof(layout), layout, "unknown KV layout"),
        };
        return InferenceEngine.Create(configure is null ? options : configure(options));
    }

    public static SamplingOptions Greedy(int maxNewTokens) => new() { Temperature = 0f, MaxNewTokens = maxNewTokens };

    public static async Task<Generation> CollectAsync(ChannelReader<GenerationChunk> reader, CancellationToken cancellationToken = default)
    {
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder();
        GenerationChunk? final = null;
        await foreach (var chunk in reader.ReadAllAsync(cancellationToken))
        {
            if (chunk.TokenId is { } id)
            {
                tokens.Add(id);
            }

            text.Append(chunk.Text);
            if (chunk.IsFinal)
            {
                final = chunk;
            }
        }

        Assert.NotNull(final);
        return new Generation([.. tokens], text.ToString(), final.Value.FinishReason!.Value, final.Value.Usage!);
    }

    public static Task<Generation> GenerateAsync(this InferenceEngine engine, string handleId, IReadOnlyList<int> prompt,
        SamplingOptions sampling, IReadOnlyList<int>? stopTokenIds = null, CancellationToken cancellationToken = default)
    {
        var handle = engine.GetOrCreateHandle(handleId);
        var request = new GenerationRequest(handle, prompt, sampling) { StopTokenIds = stopTokenIds };
        return CollectAsync(engine.Submit(request, cancellationToken), cancellationToken);
    }
}

/// <summary>
/// The default model's graphs: the shared-buffer graph (GroupQueryAttention writing KV in place), the Optimum
/// Concat graph of the same weights, and the shared-buffer graph with an int8 KV (variant "int8kv").
/// </summary>
public static class KvLayouts
{
    public const string Shared = "shared";
    public const string Optimum = "optimum";
    public const string Int8 = "int8kv";
}

internal sealed record Generation(int[] Tokens, string Text, FinishReason FinishReason, GenerationUsage Usage);
