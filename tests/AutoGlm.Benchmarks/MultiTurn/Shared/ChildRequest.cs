namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// What the benchmark sends a system that runs in its own process (ortgenai): the model, the engine knobs that
/// must match ours, the already tokenized workload and the concurrencies to play it at.
/// </summary>
public sealed record ChildRequest(
    string ModelPath,
    int ContextLength,
    int IntraOpThreads,
    IReadOnlyList<int> Concurrencies,
    IReadOnlyList<ConversationScript> Conversations);
