using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Grains;

/// <summary>Wire options ↔ engine options, and engine outcomes ↔ wire outcomes.</summary>
internal static class GenerationOptionsMapping
{
    public static SamplingOptions ToSampling(this GenerationOptions options, int defaultMaxNewTokens)
    {
        var defaults = new SamplingOptions();
        return new SamplingOptions
        {
            Temperature = options.Temperature ?? defaults.Temperature,
            TopK = options.TopK ?? defaults.TopK,
            TopP = options.TopP ?? defaults.TopP,
            RepetitionPenalty = options.RepetitionPenalty ?? defaults.RepetitionPenalty,
            Seed = options.Seed,
            MaxNewTokens = options.MaxNewTokens ?? defaultMaxNewTokens,
            StopSequences = options.StopSequences ?? [],
        };
    }

    /// <summary>Checks the knobs as the engine would; bad options become the typed wire error.</summary>
    public static void Validate(this GenerationOptions options)
    {
        try
        {
            options.ToSampling(defaultMaxNewTokens: 1).Validate();
        }
        catch (ArgumentException ex)
        {
            throw new InvalidConversationRequestException($"invalid generation options: {ex.Message}");
        }
    }

    public static ReplyFinishReason ToWire(this FinishReason reason) => reason switch
    {
        FinishReason.Stop => ReplyFinishReason.Stop,
        FinishReason.StopSequence => ReplyFinishReason.StopSequence,
        FinishReason.Length => ReplyFinishReason.Length,
        _ => ReplyFinishReason.Cancelled,
    };

    public static TurnUsage ToWire(this GenerationUsage usage) => new()
    {
        PromptTokens = usage.PromptTokens,
        CachedTokens = usage.CachedTokens,
        ComputedTokens = usage.ComputedTokens,
        CompletionTokens = usage.CompletionTokens,
    };
}
