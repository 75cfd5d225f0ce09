namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// Token accounting a system reports at the end of a turn. Prompt = the whole history the reply is conditioned
/// on; cached = the part of it the system did not compute again (0 for a system that re-prefills).
/// </summary>
public sealed record TurnUsage(int PromptTokens, int CachedTokens, int CompletionTokens);
