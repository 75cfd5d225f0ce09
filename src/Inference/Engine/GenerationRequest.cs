using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// A turn to generate: the sequence's handle and the whole prompt (the full rendered history as token ids).
/// The engine reuses the longest common prefix of the handle's cached tokens and this prompt.
/// </summary>
public sealed record GenerationRequest(KvCacheHandle Handle, IReadOnlyList<int> PromptTokenIds, SamplingOptions Sampling)
{
    /// <summary>Tokens that end the turn; the model's end-of-turn ids when null.</summary>
    public IReadOnlyList<int>? StopTokenIds { get; init; }
}
