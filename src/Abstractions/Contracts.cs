namespace AutoGlm.Orleans.Abstractions;

/// <summary>Why a reply ended (mirrors the engine's finish reasons on the wire).</summary>
[GenerateSerializer]
[Alias("autoglm.finish-reason.v1")]
public enum ReplyFinishReason
{
    /// <summary>The model ended its turn.</summary>
    Stop = 0,
    /// <summary>A stop sequence matched.</summary>
    StopSequence = 1,
    /// <summary>Max new tokens, or the context window, was reached.</summary>
    Length = 2,
    /// <summary>The caller cancelled; a cancelled turn is not stored.</summary>
    Cancelled = 3,
}

/// <summary>
/// The context-window policy (OpenAI's <c>truncation</c>): what a turn does when the stored history, the new
/// message and the reply no longer fit the model's window. The stored history always keeps everything; only the
/// model's view is cut.
/// </summary>
[GenerateSerializer]
[Alias("autoglm.truncation-mode.v1")]
public enum TruncationMode
{
    /// <summary>The turn is refused with <see cref="ContextLengthExceededException"/> (OpenAI's default).</summary>
    Disabled = 0,
    /// <summary>
    /// The oldest whole turns leave the model's view (the system prompt stays), down to about half the window, so
    /// the re-prefill this costs happens once per half window and not on every turn.
    /// </summary>
    Auto = 1,
}

/// <summary>
/// Per-turn generation knobs; a null field falls back to the conversation's defaults, then the engine's.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.generation-options.v1")]
public sealed record GenerationOptions
{
    [Id(0)] public float? Temperature { get; init; }
    [Id(1)] public int? TopK { get; init; }
    [Id(2)] public float? TopP { get; init; }
    [Id(3)] public float? RepetitionPenalty { get; init; }
    [Id(4)] public ulong? Seed { get; init; }
    [Id(5)] public int? MaxNewTokens { get; init; }
    [Id(6)] public IReadOnlyList<string>? StopSequences { get; init; }
    /// <summary>
    /// Keep generating past the model's end-of-turn token, up to max new tokens (vLLM's ignore_eos): for
    /// benchmarks that need replies of an exact length.
    /// </summary>
    [Id(7)] public bool? IgnoreEndOfTurn { get; init; }
    /// <summary>What a turn does when the conversation outgrows the model's context window (default: disabled).</summary>
    [Id(8)] public TruncationMode? Truncation { get; init; }

    /// <summary>This options' fields where set, <paramref name="fallback"/>'s otherwise.</summary>
    public GenerationOptions Over(GenerationOptions? fallback) => fallback is null ? this : new GenerationOptions
    {
        Temperature = Temperature ?? fallback.Temperature,
        TopK = TopK ?? fallback.TopK,
        TopP = TopP ?? fallback.TopP,
        RepetitionPenalty = RepetitionPenalty ?? fallback.RepetitionPenalty,
        Seed = Seed ?? fallback.Seed,
        MaxNewTokens = MaxNewTokens ?? fallback.MaxNewTokens,
        StopSequences = StopSequences ?? fallback.StopSequences,
        IgnoreEndOfTurn = IgnoreEndOfTurn ?? fallback.IgnoreEndOfTurn,
        Truncation = Truncation ?? fallback.Truncation,
    };
}

/// <summary>
/// One turn asked of a conversation. <see cref="RequestId"/> is its idempotency key: a retry with the same key
/// and the same message returns the stored reply (or attaches to the attempt still running); the same key with
/// another message fails with <see cref="IdempotencyKeyReusedException"/>.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.turn-request.v1")]
public sealed record TurnRequest
{
    [Id(0)] public string RequestId { get; init; } = string.Empty;
    [Id(1)] public string Message { get; init; } = string.Empty;
    [Id(2)] public GenerationOptions? Options { get; init; }
    /// <summary>
    /// The history to seed an empty conversation with (a stateless client's earlier messages, system prompt first):
    /// stored together with this turn in one write, so a refused turn leaves nothing behind. Ignored (it must then
    /// be what the conversation holds) when the conversation exists.
    /// </summary>
    [Id(3)] public IReadOnlyList<ConversationMessage>? Seed { get; init; }
    /// <summary>Refuse with <see cref="ConversationNotFoundException"/> instead of creating the conversation.</summary>
    [Id(4)] public bool RequireExisting { get; init; }
    /// <summary>
    /// The request id the conversation's latest reply must carry (a continuation of that response): otherwise the
    /// turn is refused with <see cref="ConversationChangedException"/>, so a turn never lands after one it did not see.
    /// </summary>
    [Id(5)] public string? ContinuesFrom { get; init; }
    /// <summary>Seeds an empty conversation from another's history (a fork) instead of <see cref="Seed"/>.</summary>
    [Id(6)] public ForkSource? ForkOf { get; init; }
    /// <summary>Answer without storing anything (OpenAI's store: false): the turn is not committed, nor replayable.</summary>
    [Id(7)] public bool Ephemeral { get; init; }
    /// <summary>
    /// Messages stored before <see cref="Message"/> in the same commit (more than one input item: user and assistant
    /// messages, rendered after the history). Unlike <see cref="Seed"/> they add to a conversation that has messages.
    /// </summary>
    [Id(8)] public IReadOnlyList<ConversationMessage>? Items { get; init; }

    public TurnRequest()
    {
    }

    public TurnRequest(string requestId, string message, GenerationOptions? options = null)
    {
        RequestId = requestId;
        Message = message;
        Options = options;
    }
}

/// <summary>Token accounting of one turn: prompt = cached (reused KV) + computed (prefilled now).</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.turn-usage.v1")]
public sealed record TurnUsage
{
    [Id(0)] public int PromptTokens { get; init; }
    /// <summary>Prompt tokens whose KV was reused from the conversation's cache.</summary>
    [Id(1)] public int CachedTokens { get; init; }
    /// <summary>Prompt tokens prefilled for this turn.</summary>
    [Id(2)] public int ComputedTokens { get; init; }
    [Id(3)] public int CompletionTokens { get; init; }
    /// <summary>Computed tokens that belonged to the stored history (KV lost: eviction, another silo, a restart).</summary>
    [Id(4)] public int RecomputedTokens { get; init; }
    /// <summary>Stored history tokens left out of this turn's prompt by the context-window policy (all dropped so far).</summary>
    [Id(5)] public int TruncatedTokens { get; init; }

    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>One streamed piece of a reply. The last chunk has <see cref="FinishReason"/> and <see cref="Usage"/>.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.reply-chunk.v1")]
public sealed record ReplyChunk
{
    /// <summary>Text completed by this chunk (may be empty).</summary>
    [Id(0)] public string Text { get; init; } = string.Empty;
    /// <summary>Token ids generated in this chunk, when known.</summary>
    [Id(1)] public IReadOnlyList<int>? TokenIds { get; init; }
    [Id(2)] public ReplyFinishReason? FinishReason { get; init; }
    [Id(3)] public TurnUsage? Usage { get; init; }
    /// <summary>True when the whole reply is a stored one returned for a retried request id.</summary>
    [Id(4)] public bool Replayed { get; init; }
    /// <summary>The silo that generated the reply (set on the final chunk).</summary>
    [Id(5)] public string? Silo { get; init; }
    /// <summary>
    /// Set by the client library when a reply was interrupted (its silo died) and the turn was retried: the text
    /// streamed so far is void, the reply starts again with this chunk.
    /// </summary>
    [Id(6)] public bool Restarted { get; init; }

    public bool IsFinal => FinishReason is not null;
}

/// <summary>A whole reply.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.conversation-reply.v1")]
public sealed record ConversationReply
{
    [Id(0)] public string RequestId { get; init; } = string.Empty;
    [Id(1)] public string Text { get; init; } = string.Empty;
    [Id(2)] public IReadOnlyList<int> TokenIds { get; init; } = [];
    [Id(3)] public ReplyFinishReason FinishReason { get; init; }
    [Id(4)] public TurnUsage Usage { get; init; } = new();
    [Id(5)] public bool Replayed { get; init; }
    [Id(6)] public string? Silo { get; init; }
}

/// <summary>Who said a stored message.</summary>
[GenerateSerializer]
[Alias("autoglm.message-role.v1")]
public enum MessageRole
{
    System = 0,
    User = 1,
    Assistant = 2,
}

/// <summary>One stored message, with the exact token ids the model saw for it (template markers included).</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.conversation-message.v1")]
public sealed record ConversationMessage
{
    [Id(0)] public MessageRole Role { get; init; }
    [Id(1)] public string Content { get; init; } = string.Empty;
    /// <summary>The request id of the turn that added the message (null for the system prompt).</summary>
    [Id(2)] public string? RequestId { get; init; }
    /// <summary>Token ids of the rendered message (its template segment), as fed or generated.</summary>
    [Id(3)] public IReadOnlyList<int> TokenIds { get; init; } = [];
    [Id(4)] public DateTimeOffset Timestamp { get; init; }
    /// <summary>For an assistant message: how the reply ended and what the turn cost.</summary>
    [Id(5)] public ReplyFinishReason? FinishReason { get; init; }
    [Id(6)] public TurnUsage? Usage { get; init; }
}

/// <summary>Where a conversation lives and what it holds.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.conversation-status.v1")]
public sealed record ConversationStatus
{
    [Id(0)] public string ConversationId { get; init; } = string.Empty;
    /// <summary>The silo the conversation is active on.</summary>
    [Id(1)] public string Silo { get; init; } = string.Empty;
    [Id(2)] public int Messages { get; init; }
    /// <summary>Tokens of the stored history (what the next prompt starts with).</summary>
    [Id(3)] public int HistoryTokens { get; init; }
    /// <summary>Tokens whose KV this silo's engine holds for the conversation.</summary>
    [Id(4)] public int CachedTokens { get; init; }
    [Id(5)] public long KvBytes { get; init; }
    [Id(6)] public bool IsGenerating { get; init; }
    [Id(7)] public string? SystemPrompt { get; init; }
    [Id(8)] public GenerationOptions? DefaultOptions { get; init; }
    [Id(9)] public int ContextLength { get; init; }
    /// <summary>False for a conversation never created (or deleted): no message, no system prompt, no applied request.</summary>
    [Id(10)] public bool Exists { get; init; }
    /// <summary>Changes ever committed: the stored version the activation holds.</summary>
    [Id(11)] public long Version { get; init; }
    /// <summary>Turns ever committed (a reset does not lower it).</summary>
    [Id(12)] public long Turns { get; init; }
    /// <summary>A Conversation's metadata (the OpenAI Conversations API).</summary>
    [Id(13)] public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    /// <summary>Stored message tokens outside the model's view (truncation auto moved past them).</summary>
    [Id(14)] public int TruncatedTokens { get; init; }
    [Id(15)] public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>A silo's batcher: queue, batch and KV pool.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.batcher-stats.v1")]
public sealed record BatcherStats
{
    [Id(0)] public string Silo { get; init; } = string.Empty;
    [Id(1)] public int Waiting { get; init; }
    [Id(2)] public int Running { get; init; }
    [Id(3)] public int MaxBatchSize { get; init; }
    [Id(4)] public long KvUsedBytes { get; init; }
    [Id(5)] public long KvReservedBytes { get; init; }
    [Id(6)] public long KvBudgetBytes { get; init; }
    [Id(7)] public int Sequences { get; init; }
    [Id(8)] public long Evictions { get; init; }
    [Id(9)] public long Steps { get; init; }
    [Id(10)] public string Model { get; init; } = string.Empty;
    [Id(11)] public int ContextLength { get; init; }
    /// <summary>Conversations active on the silo.</summary>
    [Id(12)] public int Conversations { get; init; }

    public long KvFreeBytes => Math.Max(0, KvBudgetBytes - KvUsedBytes - KvReservedBytes);
}

/// <summary>What a placement decision needs from one silo: its load and whether it still holds a sequence's KV.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.placement-probe.v1")]
public sealed record PlacementProbe
{
    [Id(0)] public long KvFreeBytes { get; init; }
    [Id(1)] public int Sequences { get; init; }
    [Id(2)] public int Running { get; init; }
    /// <summary>Tokens of the asked sequence whose KV this silo still holds (0: none).</summary>
    [Id(3)] public int HeldTokens { get; init; }
    /// <summary>Conversations active on the silo.</summary>
    [Id(4)] public int Conversations { get; init; }
    [Id(5)] public long KvBudgetBytes { get; init; }
    /// <summary>The silo is shutting down: place nothing new there.</summary>
    [Id(6)] public bool Draining { get; init; }
    /// <summary>Requests waiting in the silo's queue.</summary>
    [Id(7)] public int Waiting { get; init; }
}
