using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Text;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// One conversation: its persisted history (token ids included) and, through its silo's engine, its KV cache.
/// Placed by <see cref="KvAwarePlacement"/> next to its KV. A turn: validate → build the prompt from the stored ids
/// → the silo's <see cref="IBatchingGrain"/> streams the reply → the user message and the reply are stored when the
/// reply completes (a cancelled or interrupted reply stores nothing).
/// Concurrency: one turn at a time. A send that arrives while a turn is generating fails at once with
/// <see cref="ConversationBusyException"/> (a streaming turn lets other calls in between its chunks); calls that
/// arrive during a non-streaming <see cref="Send"/> wait in the grain's queue and run after it.
/// </summary>
[KvAwarePlacement]
public sealed class ConversationGrain : Grain, IConversationGrain
{
    public const string StorageName = "conversations";
    private const int MaxAppliedRequests = 256;
    private const int MaxRequestIdLength = 256;
    private const int DefaultMaxNewTokens = 256;

    private static readonly Meter Meter = new("AutoGlm.Orleans.Conversations");
    private static readonly Counter<long> TurnsCounter = Meter.CreateCounter<long>("autoglm.conversation.turns", "{turn}");
    private static readonly Counter<long> CachedCounter = Meter.CreateCounter<long>("autoglm.conversation.cached_tokens", "{token}");
    private static readonly Counter<long> RecomputedCounter = Meter.CreateCounter<long>("autoglm.conversation.recomputed_tokens", "{token}",
        "History tokens prefilled again because their KV was lost (eviction, failover, restart)");

    private readonly IPersistentState<ConversationState> _state;
    private readonly InferenceEngine _engine;
    private readonly ILocalSiloDetails _localSilo;
    private readonly LocalConversations _local;
    private readonly ILogger<ConversationGrain> _logger;
    private readonly PromptBuilder _prompts;
    private string? _runningRequestId;

    public ConversationGrain(
        [PersistentState("state", StorageName)] IPersistentState<ConversationState> state,
        InferenceEngine engine,
        ILocalSiloDetails localSilo,
        LocalConversations local,
        ILogger<ConversationGrain> logger)
    {
        _state = state;
        _engine = engine;
        _localSilo = localSilo;
        _local = local;
        _logger = logger;
        _prompts = new PromptBuilder(engine);
    }

    private string Id => this.GetPrimaryKeyString();

    private ConversationState State => _state.State;

    private string SiloName => _localSilo.SiloAddress.ToString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _local.Add(Id);
        return base.OnActivateAsync(cancellationToken);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // The KV handle stays parked in the pool, evictable, under the conversation's id: a re-activation on this
        // silo (placement prefers it) finds it. Only Delete releases it.
        _local.Remove(Id);
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    public async IAsyncEnumerable<ReplyChunk> SendStreaming(string requestId, string message, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var turn = BeginTurn(requestId, message, options, out var replay);
        if (replay is not null)
        {
            yield return new ReplyChunk
            {
                Text = replay.Text,
                TokenIds = replay.TokenIds,
                FinishReason = replay.FinishReason,
                Usage = replay.Usage,
                Replayed = true,
                Silo = replay.Silo,
            };
            yield break;
        }

        try
        {
            var batcher = BatchingGrainKeys.ForSilo(GrainFactory, _localSilo.SiloAddress);
            ReplyChunk? final = null;
            await foreach (var chunk in batcher.Generate(turn!.Work, cancellationToken))
            {
                if (chunk.TokenIds is { } ids)
                {
                    turn.ReplyIds.AddRange(ids);
                }

                turn.Text.Append(chunk.Text);
                if (chunk.IsFinal)
                {
                    final = chunk;
                    break;
                }

                if (chunk.Text.Length > 0 || chunk.TokenIds is { Count: > 0 })
                {
                    yield return chunk;
                }
            }

            if (final is null)
            {
                throw new ConversationException($"conversation '{Id}': the reply ended without a finish reason");
            }

            var reply = await CompleteTurnAsync(turn, final);
            yield return new ReplyChunk
            {
                Text = final.Text,
                TokenIds = final.TokenIds,
                FinishReason = reply.FinishReason,
                Usage = reply.Usage,
                Silo = reply.Silo,
            };
        }
        finally
        {
            _runningRequestId = null;
        }
    }

    public async Task<ConversationReply> Send(string requestId, string message, GenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        var ids = new List<int>();
        await foreach (var chunk in SendStreaming(requestId, message, options, cancellationToken))
        {
            if (chunk.Replayed || chunk.IsFinal)
            {
                text.Append(chunk.Text);
                if (chunk.TokenIds is { } finalIds)
                {
                    ids.AddRange(finalIds);
                }

                if (chunk.Replayed)
                {
                    return State.Applied.First(a => a.RequestId == requestId).Reply! with { Replayed = true };
                }

                return new ConversationReply
                {
                    RequestId = requestId,
                    Text = text.ToString(),
                    TokenIds = ids,
                    FinishReason = chunk.FinishReason!.Value,
                    Usage = chunk.Usage ?? new TurnUsage(),
                    Silo = chunk.Silo,
                };
            }

            text.Append(chunk.Text);
            if (chunk.TokenIds is { } chunkIds)
            {
                ids.AddRange(chunkIds);
            }
        }

        throw new ConversationException($"conversation '{Id}': the reply ended without a finish reason");
    }

    public Task<IReadOnlyList<ConversationMessage>> GetHistory()
    {
        var messages = new List<ConversationMessage>(State.Messages.Count + 1);
        if (State.SystemPrompt is { } system)
        {
            messages.Add(new ConversationMessage { Role = MessageRole.System, Content = system, TokenIds = State.SystemTokenIds.ToArray() });
        }

        messages.AddRange(State.Messages);
        return Task.FromResult<IReadOnlyList<ConversationMessage>>(messages);
    }

    public Task<ConversationStatus> GetStatus()
    {
        var cached = _engine.Pool.TryGet(Id, out var handle) && handle is not null ? handle.CachedTokenCount : 0;
        return Task.FromResult(new ConversationStatus
        {
            ConversationId = Id,
            Silo = SiloName,
            Messages = State.Messages.Count + (State.SystemPrompt is null ? 0 : 1),
            HistoryTokens = HistoryTokenCount(),
            CachedTokens = cached,
            KvBytes = cached * _engine.Manifest.KvBytesPerToken,
            IsGenerating = _runningRequestId is not null,
            SystemPrompt = State.SystemPrompt,
            DefaultOptions = State.DefaultOptions,
            ContextLength = _engine.Manifest.ContextLength,
            Exists = State.Messages.Count > 0 || State.SystemPrompt is not null || State.Applied.Count > 0,
        });
    }

    public async Task SetSystemPrompt(string requestId, string? systemPrompt)
    {
        if (!BeginChange(requestId, "set-system-prompt"))
        {
            return;
        }

        var tokens = systemPrompt is null ? [] : _prompts.Encode(_prompts.Segment([new ChatMessage(ChatRole.System, systemPrompt)]));
        if (tokens.Length >= _engine.Manifest.ContextLength)
        {
            throw new InvalidConversationRequestException(
                $"the system prompt has {tokens.Length} tokens; the model's context window is {_engine.Manifest.ContextLength} tokens");
        }

        await ChangeAsync(requestId, "set-system-prompt", s =>
        {
            s.SystemPrompt = systemPrompt;
            s.SystemTokenIds = [.. tokens];
            s.HistoryKvTokens = 0;
        });
    }

    public async Task SetDefaultOptions(string requestId, GenerationOptions? options)
    {
        if (!BeginChange(requestId, "set-default-options"))
        {
            return;
        }

        options?.Validate();
        await ChangeAsync(requestId, "set-default-options", s => s.DefaultOptions = options);
    }

    public async Task Reset(string requestId)
    {
        if (!BeginChange(requestId, "reset"))
        {
            return;
        }

        await ChangeAsync(requestId, "reset", s =>
        {
            s.Messages = [];
            s.HistoryKvTokens = 0;
        });
    }

    public async Task ImportHistory(string requestId, IReadOnlyList<ConversationMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (!BeginChange(requestId, "import-history"))
        {
            return;
        }

        if (State.Messages.Count > 0)
        {
            throw new InvalidConversationRequestException($"conversation '{Id}' has messages already; only an empty one can be seeded");
        }

        var system = State.SystemPrompt;
        var rest = messages;
        if (messages.Count > 0 && messages[0].Role == MessageRole.System)
        {
            system = messages[0].Content;
            rest = [.. messages.Skip(1)];
        }

        var chat = new List<ChatMessage>(messages.Count);
        var systemIds = State.SystemTokenIds.ToArray();
        if (system is not null)
        {
            chat.Add(new ChatMessage(ChatRole.System, system));
            systemIds = _prompts.Encode(_prompts.Segment(chat));
        }

        var now = DateTimeOffset.UtcNow;
        var stored = new List<ConversationMessage>(rest.Count);
        var tokens = systemIds.Length;
        foreach (var message in rest)
        {
            if (message.Role == MessageRole.System)
            {
                throw new InvalidConversationRequestException("a system message may only come first");
            }

            chat.Add(new ChatMessage(message.Role == MessageRole.User ? ChatRole.User : ChatRole.Assistant, message.Content));
            var ids = _prompts.Encode(_prompts.Segment(chat));
            tokens += ids.Length;
            stored.Add(new ConversationMessage
            {
                Role = message.Role, Content = message.Content, RequestId = requestId, TokenIds = ids, Timestamp = now,
                FinishReason = message.Role == MessageRole.Assistant ? ReplyFinishReason.Stop : null,
            });
        }

        if (tokens >= _engine.Manifest.ContextLength)
        {
            throw new InvalidConversationRequestException(
                $"the history has {tokens} tokens; the model's context window is {_engine.Manifest.ContextLength} tokens");
        }

        await ChangeAsync(requestId, "import-history", s =>
        {
            s.SystemPrompt = system;
            s.SystemTokenIds = [.. systemIds];
            s.Messages = stored;
            s.HistoryKvTokens = 0;
        });
    }

    public async Task Delete(string requestId)
    {
        ValidateRequestId(requestId);
        if (_runningRequestId is not null)
        {
            throw new ConversationBusyException($"conversation '{Id}' is generating request '{_runningRequestId}'");
        }

        await _state.ClearStateAsync();
        _state.State = new ConversationState();
        if (_engine.Pool.TryGet(Id, out var handle) && handle is not null)
        {
            handle.Dispose();
        }

        DeactivateOnIdle();
    }

    private Turn? BeginTurn(string requestId, string message, GenerationOptions? options, out ConversationReply? replay)
    {
        ValidateRequestId(requestId);
        replay = State.Applied.FirstOrDefault(a => a.RequestId == requestId)?.Reply;
        if (replay is not null)
        {
            return null;
        }

        if (_runningRequestId is not null)
        {
            throw new ConversationBusyException(_runningRequestId == requestId
                ? $"conversation '{Id}' is still generating request '{requestId}'"
                : $"conversation '{Id}' is generating request '{_runningRequestId}': one turn at a time");
        }

        if (string.IsNullOrWhiteSpace(message))
        {
            throw new InvalidConversationRequestException("the message is empty");
        }

        var merged = (options ?? new GenerationOptions()).Over(State.DefaultOptions);
        merged.Validate();

        var chat = ChatHistory();
        chat.Add(new ChatMessage(ChatRole.User, message));
        var userIds = _prompts.Encode(_prompts.Segment(chat));
        var generationPrompt = _prompts.GenerationPrompt(chat);
        var generationPromptIds = _prompts.Encode(generationPrompt);
        var historyCount = HistoryTokenCount();
        var prompt = new List<int>(historyCount + userIds.Length + generationPromptIds.Length);
        prompt.AddRange(State.SystemTokenIds);
        foreach (var stored in State.Messages)
        {
            prompt.AddRange(stored.TokenIds);
        }

        prompt.AddRange(userIds);
        prompt.AddRange(generationPromptIds);

        var context = _engine.Manifest.ContextLength;
        if (prompt.Count >= context)
        {
            throw new InvalidConversationRequestException(
                $"the prompt would have {prompt.Count} tokens ({userIds.Length} of them this message); the model's context window is {context} tokens");
        }

        var room = context - prompt.Count;
        if (merged.MaxNewTokens is { } requested && requested > room)
        {
            throw new InvalidConversationRequestException(
                $"max new tokens ({requested}) + prompt ({prompt.Count} tokens) exceed the context window of {context} tokens");
        }

        merged = merged with { MaxNewTokens = merged.MaxNewTokens ?? Math.Min(DefaultMaxNewTokens, room) };
        _runningRequestId = requestId;
        return new Turn(requestId, message, chat, userIds, generationPrompt, generationPromptIds, historyCount,
            new BatchWork { SequenceId = Id, PromptTokenIds = prompt, Options = merged });
    }

    private async Task<ConversationReply> CompleteTurnAsync(Turn turn, ReplyChunk final)
    {
        var engineUsage = final.Usage ?? new TurnUsage();
        var recomputed = Math.Max(0, Math.Min(State.HistoryKvTokens, turn.HistoryTokens) - engineUsage.CachedTokens);
        var usage = engineUsage with { RecomputedTokens = recomputed };
        var reason = final.FinishReason!.Value;
        var reply = new ConversationReply
        {
            RequestId = turn.RequestId,
            Text = turn.Text.ToString(),
            TokenIds = turn.ReplyIds.ToArray(),
            FinishReason = reason,
            Usage = usage,
            Silo = SiloName,
        };
        if (reason == ReplyFinishReason.Cancelled)
        {
            return reply;
        }

        // The assistant message as the model saw it: generation prompt + generated ids + the template's close.
        // A stop sequence was trimmed from the text but its tokens were generated: re-tokenize the kept text.
        var replyIds = reason == ReplyFinishReason.StopSequence ? _prompts.Encode(reply.Text) : [.. turn.ReplyIds];
        var withReply = new List<ChatMessage>(turn.Chat) { new(ChatRole.Assistant, reply.Text) };
        var close = _prompts.AssistantClose(withReply, turn.GenerationPrompt);
        var assistantIds = new List<int>(turn.GenerationPromptIds.Length + replyIds.Length + close.Length);
        assistantIds.AddRange(turn.GenerationPromptIds);
        assistantIds.AddRange(replyIds);
        assistantIds.AddRange(close);

        var now = DateTimeOffset.UtcNow;
        var snapshot = Snapshot();
        State.Messages.Add(new ConversationMessage
        {
            Role = MessageRole.User, Content = turn.Message, RequestId = turn.RequestId, TokenIds = turn.UserIds, Timestamp = now,
        });
        State.Messages.Add(new ConversationMessage
        {
            Role = MessageRole.Assistant, Content = reply.Text, RequestId = turn.RequestId, TokenIds = assistantIds,
            Timestamp = now, FinishReason = reason, Usage = usage,
        });
        Remember(new AppliedRequest { RequestId = turn.RequestId, Operation = "send", Reply = reply });
        State.Turns++;
        State.LastSilo = SiloName;
        State.HistoryKvTokens = HeldPrefix();
        try
        {
            await _state.WriteStateAsync();
        }
        catch
        {
            Restore(snapshot);
            throw;
        }

        TurnsCounter.Add(1);
        CachedCounter.Add(usage.CachedTokens);
        if (recomputed > 0)
        {
            RecomputedCounter.Add(recomputed);
            _logger.LogInformation("Conversation {Conversation} recomputed {Tokens} history tokens on {Silo}", Id, recomputed, SiloName);
        }

        return reply;
    }

    /// <summary>False when the request id was applied already (a retry: nothing to do).</summary>
    private bool BeginChange(string requestId, string operation)
    {
        ValidateRequestId(requestId);
        if (State.Applied.Any(a => a.RequestId == requestId))
        {
            return false;
        }

        if (_runningRequestId is not null)
        {
            throw new ConversationBusyException($"conversation '{Id}' is generating request '{_runningRequestId}'; cannot {operation} now");
        }

        return true;
    }

    private async Task ChangeAsync(string requestId, string operation, Action<ConversationState> change)
    {
        var snapshot = Snapshot();
        change(State);
        Remember(new AppliedRequest { RequestId = requestId, Operation = operation });
        try
        {
            await _state.WriteStateAsync();
        }
        catch
        {
            Restore(snapshot);
            throw;
        }
    }

    private void Remember(AppliedRequest applied)
    {
        State.Applied.Add(applied);
        if (State.Applied.Count > MaxAppliedRequests)
        {
            State.Applied.RemoveRange(0, State.Applied.Count - MaxAppliedRequests);
        }
    }

    private ConversationState Snapshot() => new()
    {
        SystemPrompt = State.SystemPrompt,
        SystemTokenIds = [.. State.SystemTokenIds],
        Messages = [.. State.Messages],
        DefaultOptions = State.DefaultOptions,
        Applied = [.. State.Applied],
        HistoryKvTokens = State.HistoryKvTokens,
        Turns = State.Turns,
        LastSilo = State.LastSilo,
    };

    private void Restore(ConversationState snapshot)
    {
        State.SystemPrompt = snapshot.SystemPrompt;
        State.SystemTokenIds = snapshot.SystemTokenIds;
        State.Messages = snapshot.Messages;
        State.DefaultOptions = snapshot.DefaultOptions;
        State.Applied = snapshot.Applied;
        State.HistoryKvTokens = snapshot.HistoryKvTokens;
        State.Turns = snapshot.Turns;
        State.LastSilo = snapshot.LastSilo;
    }

    /// <summary>How many leading tokens of the stored history the engine's KV for this conversation covers.</summary>
    private int HeldPrefix()
    {
        if (!_engine.Pool.TryGet(Id, out var handle) || handle is null || handle.IsActive)
        {
            return 0;
        }

        var cached = handle.Tokens.ToArray();
        var i = 0;
        foreach (var id in History())
        {
            if (i >= cached.Length || cached[i] != id)
            {
                break;
            }

            i++;
        }

        return i;
    }

    private IEnumerable<int> History() => State.SystemTokenIds.Concat(State.Messages.SelectMany(m => m.TokenIds));

    private int HistoryTokenCount() => State.SystemTokenIds.Count + State.Messages.Sum(m => m.TokenIds.Count);

    private List<ChatMessage> ChatHistory()
    {
        var chat = new List<ChatMessage>(State.Messages.Count + 2);
        if (State.SystemPrompt is { } system)
        {
            chat.Add(new ChatMessage(ChatRole.System, system));
        }

        foreach (var message in State.Messages)
        {
            chat.Add(new ChatMessage(message.Role == MessageRole.User ? ChatRole.User : ChatRole.Assistant, message.Content));
        }

        return chat;
    }

    private static void ValidateRequestId(string requestId)
    {
        if (string.IsNullOrWhiteSpace(requestId))
        {
            throw new InvalidConversationRequestException("a request id is required (the idempotency key of the change)");
        }

        if (requestId.Length > MaxRequestIdLength)
        {
            throw new InvalidConversationRequestException($"the request id is longer than {MaxRequestIdLength} characters");
        }
    }

    private sealed record Turn(
        string RequestId,
        string Message,
        List<ChatMessage> Chat,
        int[] UserIds,
        string GenerationPrompt,
        int[] GenerationPromptIds,
        int HistoryTokens,
        BatchWork Work)
    {
        public StringBuilder Text { get; } = new();

        public List<int> ReplyIds { get; } = [];
    }
}
