using Orleans.Concurrency;

namespace AutoGlm.Orleans.Abstractions;

/// <summary>
/// A conversation (key: the conversation id): the server keeps the whole history and its KV cache; a client
/// sends only the new message. Every call that changes the conversation takes a client-chosen request id (its
/// idempotency key): a retried id returns what the first one did and never applies twice, and a retry that
/// arrives while the first attempt still runs attaches to it. One change runs at a time: a different change
/// while a turn is running fails with <see cref="ConversationBusyException"/>.
/// </summary>
[Alias("autoglm.conversation.v2")]
public interface IConversationGrain : IGrainWithStringKey
{
    /// <summary>Sends a user message and streams the reply; the turn is stored when the reply completes.</summary>
    /// <exception cref="InvalidConversationRequestException">Empty message, beyond the context window, bad options.</exception>
    /// <exception cref="ConversationBusyException">Another change is running.</exception>
    /// <exception cref="ConversationNotFoundException">The request requires an existing conversation and there is none.</exception>
    /// <exception cref="StorageUnavailableException">The store cannot be reached: retry with the same request id.</exception>
    [Alias("send-streaming")]
    IAsyncEnumerable<ReplyChunk> SendStreaming(TurnRequest request, CancellationToken cancellationToken = default);

    /// <summary>Sends a user message and returns the whole reply once stored.</summary>
    [Alias("send")]
    Task<ConversationReply> Send(TurnRequest request, CancellationToken cancellationToken = default);

    /// <summary>The stored messages, system prompt first (empty for a conversation that does not exist).</summary>
    [Alias("history")]
    [AlwaysInterleave]
    Task<IReadOnlyList<ConversationMessage>> GetHistory();

    [Alias("status")]
    [AlwaysInterleave]
    Task<ConversationStatus> GetStatus();

    /// <summary>Creates the conversation with an optional system prompt.</summary>
    /// <exception cref="ConversationExistsException">It exists, and another request id created it.</exception>
    [Alias("create")]
    Task Create(string requestId, string? systemPrompt);

    /// <summary>Sets (or clears, with null) the system prompt; the history stays and the KV is rebuilt next turn.</summary>
    [Alias("set-system-prompt")]
    Task SetSystemPrompt(string requestId, string? systemPrompt);

    /// <summary>Sets the options every turn starts from.</summary>
    [Alias("set-default-options")]
    Task SetDefaultOptions(string requestId, GenerationOptions? options);

    /// <summary>Forgets the messages; keeps the system prompt, default options and applied request ids.</summary>
    [Alias("reset")]
    Task Reset(string requestId);

    /// <summary>
    /// Seeds an empty conversation with an existing history (a client that kept it): a system message becomes the
    /// system prompt, the others are stored as if their turns had run (token ids from the chat template). Only
    /// <see cref="ConversationMessage.Role"/> and <see cref="ConversationMessage.Content"/> are read.
    /// </summary>
    /// <exception cref="InvalidConversationRequestException">The conversation has messages already, or the history is invalid.</exception>
    [Alias("import-history")]
    Task ImportHistory(string requestId, IReadOnlyList<ConversationMessage> messages);

    /// <summary>
    /// Appends messages without generating (OpenAI's conversation items): rendered after the last stored message; a
    /// system message may come first only in an empty conversation (it becomes the system prompt). Creates the
    /// conversation when it does not exist.
    /// </summary>
    [Alias("append-messages")]
    Task AppendMessages(string requestId, IReadOnlyList<ConversationMessage> messages);

    /// <summary>Replaces the conversation's metadata (creating the conversation when it does not exist).</summary>
    [Alias("set-metadata")]
    Task SetMetadata(string requestId, IReadOnlyDictionary<string, string> metadata);

    /// <summary>Forgets the response of turn <paramref name="turnRequestId"/>: its id no longer resolves.</summary>
    /// <exception cref="ConversationNotFoundException">There is no such response.</exception>
    [Alias("delete-response")]
    Task DeleteResponse(string requestId, string turnRequestId);

    /// <summary>The turn of <paramref name="turnRequestId"/>; null when there is none (or its response was deleted).</summary>
    [Alias("turn")]
    [AlwaysInterleave]
    Task<StoredTurn?> GetTurn(string turnRequestId);

    /// <summary>The history through turn <paramref name="turnRequestId"/> as the model saw it; null when there is no such response.</summary>
    [Alias("fork-prefix")]
    [AlwaysInterleave]
    Task<ConversationPrefix?> GetForkPrefix(string turnRequestId);

    /// <summary>
    /// Copies the KV of the history through turn <paramref name="turnRequestId"/> into a new sequence of this silo's
    /// pool under <paramref name="forkKey"/> (the same tenant's), so the fork is placed here and reuses it. Returns
    /// the tokens copied (0: nothing held here to share, or no room; the fork then computes them).
    /// </summary>
    [Alias("share-kv")]
    Task<int> ShareKv(string forkKey, string turnRequestId);

    /// <summary>Deletes the conversation: stored state, and its KV cache on every silo.</summary>
    /// <exception cref="ConversationNotFoundException">There is no such conversation.</exception>
    [Alias("delete")]
    Task Delete(string requestId);

    /// <summary>
    /// Its silo is shutting down: leave now if no turn runs, else as soon as the running turn ends, so the next
    /// call places the conversation on another silo.
    /// </summary>
    [Alias("leave")]
    [AlwaysInterleave]
    Task Leave();

    /// <summary>
    /// Its silo is loaded: when idle, move with its KV to a less loaded silo (and migrate there). True when it moved;
    /// false when it is busy, has no KV here, or no silo has room (it then stays).
    /// </summary>
    [Alias("rebalance")]
    [AlwaysInterleave]
    Task<bool> Rebalance();
}

/// <summary>
/// What other silos and clients may ask of one silo's inference engine (key: the silo address, parsable form):
/// its load, whether it holds a sequence's KV, a KV transfer into it, a release. Exactly one per silo, pinned there.
/// Generation does not go through it: a conversation grain submits to its own silo's engine directly.
/// </summary>
[Alias("autoglm.silo-engine.v1")]
public interface ISiloEngineGrain : IGrainWithStringKey
{
    [Alias("stats")]
    Task<BatcherStats> GetStats();

    /// <summary>Read-only: <see cref="GetStats"/> plus this silo's token rate, latency percentiles and conversation counters.</summary>
    [Alias("serving-stats")]
    [AlwaysInterleave]
    Task<ServingStats> GetServingStats();

    /// <summary>Load and, for <paramref name="sequenceId"/>, how many of its tokens this silo's KV pool still holds.</summary>
    [Alias("probe")]
    Task<PlacementProbe> Probe(string sequenceId);

    /// <summary>
    /// Takes one part of a sequence's KV moving here from a draining silo; the last part installs it in this silo's
    /// pool, so placement finds the conversation's KV here. False when the transfer is refused (geometry, room, a
    /// part out of order): the conversation then recomputes.
    /// </summary>
    [Alias("import-kv")]
    Task<bool> ImportKv(KvTransferPart part);

    /// <summary>Releases a sequence's KV that a deleted conversation left parked on this silo.</summary>
    [Alias("release-kv")]
    Task ReleaseKv(string sequenceId);
}
