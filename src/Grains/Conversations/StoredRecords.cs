using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// The small, fixed-size part of a stored conversation, rewritten by every change: counters and bookkeeping.
/// Its size does not grow with the conversation (messages are appended as records of their own).
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.conversation-header.v1")]
public sealed record ConversationHeader
{
    /// <summary>Turns ever committed (a reset does not lower it).</summary>
    [Id(0)] public long Turns { get; init; }
    /// <summary>The absolute index of the first live message: every message a reset dropped counts before it.</summary>
    [Id(1)] public long Base { get; init; }
    /// <summary>History tokens whose KV the engine held after the last turn: what the next turn should reuse.</summary>
    [Id(2)] public int HistoryKvTokens { get; init; }
    /// <summary>The silo that generated the last turn (informational: placement asks the silos themselves).</summary>
    [Id(3)] public string? LastSilo { get; init; }
    [Id(4)] public DateTimeOffset CreatedAt { get; init; }
    [Id(5)] public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>
    /// The absolute index of the first message in the model's view (truncation "auto" moved it past older turns;
    /// they stay stored). Never below <see cref="Base"/>.
    /// </summary>
    [Id(6)] public long WindowStart { get; init; }
    /// <summary>
    /// Ids the template puts before its first message (a begin-of-text marker), prepended to a moved window when
    /// there is no system prompt to carry them: the window's first message was rendered as a later one.
    /// </summary>
    [Id(7)] public IReadOnlyList<int> WindowHead { get; init; } = [];
}

/// <summary>The system prompt and the token ids of its rendered segment; written only when it changes.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.system-prompt.v1")]
public sealed record SystemPromptRecord
{
    public static SystemPromptRecord None { get; } = new();

    [Id(0)] public string? Text { get; init; }
    [Id(1)] public IReadOnlyList<int> TokenIds { get; init; } = [];
}

/// <summary>
/// One applied request id (the idempotency record): what it did and where its result lies, never a copy of a
/// reply. A send points at its assistant message by absolute index, so a retry returns the stored text.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.applied-change.v1")]
public sealed record AppliedChange
{
    [Id(0)] public string Operation { get; init; } = string.Empty;
    /// <summary>The version this change committed (keys are evicted oldest version first).</summary>
    [Id(1)] public long Version { get; init; }
    /// <summary>A send's assistant message, by absolute index (see <see cref="ConversationHeader.Base"/>); -1 otherwise.</summary>
    [Id(2)] public long MessageIndex { get; init; } = -1;
    /// <summary>What the request asked (message and options): the same key with another request is refused.</summary>
    [Id(3)] public ulong Fingerprint { get; init; }
    /// <summary>Where the generated ids lie in the assistant message's token ids (after the generation prompt).</summary>
    [Id(4)] public int ReplyStart { get; init; }
    [Id(5)] public int ReplyLength { get; init; }
    [Id(6)] public string? Silo { get; init; }
}

/// <summary>A conversation as the store returns it.</summary>
public sealed record StoredConversation(
    string Incarnation,
    long Version,
    ConversationHeader Header,
    SystemPromptRecord SystemPrompt,
    GenerationOptions? DefaultOptions,
    IReadOnlyList<ConversationMessage> Messages,
    IReadOnlyList<KeyValuePair<string, AppliedChange>> Applied)
{
    public ConversationAnnotations Annotations { get; init; } = ConversationAnnotations.None;
}
