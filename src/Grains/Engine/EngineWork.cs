using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Engine;

/// <summary>One generation for this silo's engine: the sequence (KV handle id, the conversation's key) and its whole prompt.</summary>
public sealed record EngineWork(string SequenceId, IReadOnlyList<int> PromptTokenIds, GenerationOptions Options);
