namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// The measurement of one turn. Times are milliseconds; <see cref="StartMs"/> counts from the start of the run.
/// ITLs are the gaps between consecutive tokens of the reply (a chunk of k tokens counts as k equal gaps).
/// </summary>
public sealed record TurnRecord(
    string ConversationId,
    int Turn,
    int Concurrency,
    double StartMs,
    double TtftMs,
    double E2eMs,
    double[] ItlMs,
    int PromptTokens,
    int CachedTokens,
    int OutputTokens,
    string? Error);
