namespace AutoGlm.Orleans.Abstractions;

/// <summary>
/// A new conversation that starts as a copy of another's history up to one of its turns (OpenAI's
/// previous_response_id naming an earlier response): <see cref="ParentKey"/> is the parent's grain key (the same
/// tenant's), <see cref="ThroughRequestId"/> the request id of the last turn copied.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.fork-source.v1")]
public sealed record ForkSource(
    [property: Id(0)] string ParentKey,
    [property: Id(1)] string ThroughRequestId);

/// <summary>One stored turn (a Responses API response): its input messages and its reply.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.stored-turn.v1")]
public sealed record StoredTurn
{
    [Id(0)] public IReadOnlyList<ConversationMessage> Input { get; init; } = [];
    [Id(1)] public ConversationMessage Reply { get; init; } = new();
    /// <summary>The request id of the turn before it (its previous response), when there is one.</summary>
    [Id(2)] public string? PreviousRequestId { get; init; }
    /// <summary>True when it is the conversation's latest turn (a continuation goes straight on, no fork).</summary>
    [Id(3)] public bool IsLatest { get; init; }
    [Id(4)] public string? SystemPrompt { get; init; }
}

/// <summary>
/// The history a fork starts from, as the parent's model saw it: the system prompt and messages with their exact
/// token ids (so the fork's prompt repeats the parent's and its KV can be copied rather than recomputed).
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.conversation-prefix.v1")]
public sealed record ConversationPrefix
{
    /// <summary>The system prompt (role System, with its ids), when there is one.</summary>
    [Id(0)] public ConversationMessage? SystemPrompt { get; init; }
    [Id(1)] public IReadOnlyList<ConversationMessage> Messages { get; init; } = [];
    /// <summary>Tokens of the prefix (system prompt and messages) in the order the prompt holds them.</summary>
    [Id(2)] public int Tokens { get; init; }
    /// <summary>The parent's default options, which the fork starts from.</summary>
    [Id(3)] public GenerationOptions? DefaultOptions { get; init; }
}
