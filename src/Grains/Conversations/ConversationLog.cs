using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// A conversation as its activation holds it: the stored version, the system prompt, the live messages with the
/// exact token ids the model saw, the default options and the idempotency record. Plain and single-threaded (the
/// grain's scheduler): changes are planned as <see cref="ConversationChange"/>s without touching this log, and
/// <see cref="Apply"/> swaps one in only after the store accepted it, so a failed write leaves nothing to undo.
/// </summary>
public sealed class ConversationLog
{
    public const string CreateOperation = "create";
    public const string SendOperation = "send";
    public const string ImportOperation = "import-history";
    public const string ResetOperation = "reset";
    public const string SystemPromptOperation = "set-system-prompt";
    public const string DefaultOptionsOperation = "set-default-options";
    public const string AppendOperation = "append-messages";
    public const string MetadataOperation = "set-metadata";
    public const string DeleteResponseOperation = "delete-response";

    private readonly List<ConversationMessage> _messages = [];
    private int _messageTokens;
    private int _windowIndex;
    private int _viewTokens;

    private ConversationLog(IdempotencyRecord applied) => Applied = applied;

    public static ConversationLog Empty(int maxRequestIds) => new(new IdempotencyRecord(maxRequestIds));

    public static ConversationLog From(StoredConversation stored, int maxRequestIds)
    {
        ArgumentNullException.ThrowIfNull(stored);
        var log = new ConversationLog(IdempotencyRecord.From(stored.Applied, maxRequestIds))
        {
            Incarnation = stored.Incarnation,
            Version = stored.Version,
            Header = stored.Header,
            SystemPrompt = stored.SystemPrompt,
            DefaultOptions = stored.DefaultOptions,
            Annotations = stored.Annotations,
        };
        log.Append(stored.Messages);
        log.MoveWindow();
        return log;
    }

    /// <summary>Names this conversation's life: a deleted and re-created conversation gets a new one.</summary>
    public string? Incarnation { get; private set; }

    /// <summary>Changes committed in this incarnation; 0 when nothing is stored.</summary>
    public long Version { get; private set; }

    public bool Exists => Version > 0;

    public ConversationHeader Header { get; private set; } = new();

    public SystemPromptRecord SystemPrompt { get; private set; } = SystemPromptRecord.None;

    public GenerationOptions? DefaultOptions { get; private set; }

    public ConversationAnnotations Annotations { get; private set; } = ConversationAnnotations.None;

    public IReadOnlyList<ConversationMessage> Messages => _messages;

    public IdempotencyRecord Applied { get; }

    /// <summary>Tokens of the model's view of the history (system prompt and the window): what the next prompt starts with.</summary>
    public int HistoryTokens => SystemPrompt.TokenIds.Count + WindowHead.Count + _viewTokens;

    /// <summary>Tokens of every live message, in the window or not (the system prompt aside).</summary>
    public int MessageTokens => _messageTokens;

    /// <summary>Stored message tokens the model no longer sees (truncation "auto" moved the window past them).</summary>
    public int TruncatedTokens => _messageTokens - _viewTokens;

    /// <summary>Index in <see cref="Messages"/> of the first message in the model's view.</summary>
    public int WindowIndex => _windowIndex;

    /// <summary>The window head when it applies: a system prompt, when there is one, opens the prompt instead.</summary>
    private IReadOnlyList<int> WindowHead => SystemPrompt.TokenIds.Count == 0 && _windowIndex > 0 ? Header.WindowHead : [];

    /// <summary>Appends the model's view of the history (system prompt, window head, window) to <paramref name="into"/>.</summary>
    public void CopyHistory(List<int> into)
    {
        into.AddRange(SystemPrompt.TokenIds);
        into.AddRange(WindowHead);
        for (var i = _windowIndex; i < _messages.Count; i++)
        {
            into.AddRange(_messages[i].TokenIds);
        }
    }

    /// <summary>How many leading tokens of <paramref name="cached"/> equal the stored history followed by <paramref name="appended"/>.</summary>
    public int CommonPrefix(IReadOnlyList<int> cached, IReadOnlyList<ConversationMessage> appended)
    {
        var i = 0;
        foreach (var part in Parts())
        {
            foreach (var id in part)
            {
                if (i >= cached.Count || cached[i] != id)
                {
                    return i;
                }

                i++;
            }
        }

        return i;

        IEnumerable<IReadOnlyList<int>> Parts()
        {
            yield return SystemPrompt.TokenIds;
            yield return WindowHead;
            for (var m = _windowIndex; m < _messages.Count; m++)
            {
                yield return _messages[m].TokenIds;
            }

            foreach (var message in appended)
            {
                yield return message.TokenIds;
            }
        }
    }

    /// <summary>The history as the API shows it: the system prompt (when set) as the first message.</summary>
    public IReadOnlyList<ConversationMessage> ToHistory()
    {
        var history = new List<ConversationMessage>(_messages.Count + 1);
        if (SystemPrompt.Text is { } system)
        {
            history.Add(new ConversationMessage { Role = MessageRole.System, Content = system, TokenIds = SystemPrompt.TokenIds });
        }

        history.AddRange(_messages);
        return history;
    }

    /// <summary>
    /// The stored reply of an applied send (a retry): the assistant message it points at. A reset since then
    /// dropped the text; the retry then learns only how the turn ended.
    /// </summary>
    public ConversationReply Replay(string requestId, AppliedChange applied)
    {
        var index = applied.MessageIndex - Header.Base;
        if (applied.MessageIndex < 0 || index < 0 || index >= _messages.Count)
        {
            return new ConversationReply { RequestId = requestId, Replayed = true, Silo = applied.Silo };
        }

        var message = _messages[(int)index];
        var ids = message.TokenIds;
        var start = Math.Clamp(applied.ReplyStart, 0, ids.Count);
        var length = Math.Clamp(applied.ReplyLength, 0, ids.Count - start);
        return new ConversationReply
        {
            RequestId = requestId,
            Text = message.Content,
            TokenIds = ids is int[] array ? array.AsSpan(start, length).ToArray() : [.. ids.Skip(start).Take(length)],
            FinishReason = message.FinishReason ?? ReplyFinishReason.Stop,
            Usage = message.Usage ?? new TurnUsage(),
            Replayed = true,
            Silo = applied.Silo,
        };
    }

    public ConversationChange PlanCreate(string requestId, ulong fingerprint, SystemPromptRecord systemPrompt, DateTimeOffset now) =>
        Next(CreateOperation, requestId, fingerprint, now) with { SystemPrompt = systemPrompt };

    public ConversationChange PlanSystemPrompt(string requestId, ulong fingerprint, SystemPromptRecord systemPrompt, DateTimeOffset now) =>
        Next(SystemPromptOperation, requestId, fingerprint, now, h => h with { HistoryKvTokens = 0 }) with { SystemPrompt = systemPrompt };

    public ConversationChange PlanDefaultOptions(string requestId, ulong fingerprint, GenerationOptions? options, DateTimeOffset now) =>
        Next(DefaultOptionsOperation, requestId, fingerprint, now) with { DefaultOptionsChanged = true, DefaultOptions = options };

    public ConversationChange PlanReset(string requestId, ulong fingerprint, DateTimeOffset now) =>
        Next(ResetOperation, requestId, fingerprint, now,
                h => h with { Base = h.Base + _messages.Count, WindowStart = h.Base + _messages.Count, WindowHead = [], HistoryKvTokens = 0 })
            with { ClearMessages = true };

    /// <summary>Appends messages (already rendered after the last one) without a turn: OpenAI's conversation items.</summary>
    public ConversationChange PlanAppend(string requestId, ulong fingerprint, SystemPromptRecord? systemPrompt,
        IReadOnlyList<ConversationMessage> messages, DateTimeOffset now) =>
        Next(AppendOperation, requestId, fingerprint, now) with { SystemPrompt = systemPrompt, Appended = messages };

    public ConversationChange PlanMetadata(string requestId, ulong fingerprint, IReadOnlyDictionary<string, string> metadata, DateTimeOffset now) =>
        Next(MetadataOperation, requestId, fingerprint, now) with { Annotations = Annotations with { Metadata = metadata } };

    /// <summary>Forgets the response of turn <paramref name="turnRequestId"/>; the oldest deletions go first past the bound.</summary>
    public ConversationChange PlanDeleteResponse(string requestId, ulong fingerprint, string turnRequestId, DateTimeOffset now)
    {
        var deleted = Annotations.DeletedResponses.Count >= ConversationAnnotations.MaxDeletedResponses
            ? Annotations.DeletedResponses.Skip(1).Append(turnRequestId).ToArray()
            : [.. Annotations.DeletedResponses, turnRequestId];
        return Next(DeleteResponseOperation, requestId, fingerprint, now) with { Annotations = Annotations with { DeletedResponses = deleted } };
    }

    /// <summary>The assistant message of turn <paramref name="turnRequestId"/>, by index in <see cref="Messages"/>; -1 when none (or its response was deleted).</summary>
    public int FindResponse(string turnRequestId)
    {
        if (Annotations.DeletedResponses.Contains(turnRequestId, StringComparer.Ordinal))
        {
            return -1;
        }

        for (var i = _messages.Count - 1; i >= 0; i--)
        {
            if (_messages[i].Role == MessageRole.Assistant && string.Equals(_messages[i].RequestId, turnRequestId, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>The index of the first message of the turn whose reply is at <paramref name="replyIndex"/> (its input items and user message).</summary>
    public int TurnStart(int replyIndex)
    {
        var requestId = _messages[replyIndex].RequestId;
        var first = replyIndex;
        while (first > 0 && string.Equals(_messages[first - 1].RequestId, requestId, StringComparison.Ordinal))
        {
            first--;
        }

        return first;
    }

    /// <summary>Seeds an empty conversation: <paramref name="systemPrompt"/> (null keeps the current one) and the messages.</summary>
    public ConversationChange PlanImport(string requestId, ulong fingerprint, SystemPromptRecord? systemPrompt,
        IReadOnlyList<ConversationMessage> messages, DateTimeOffset now) =>
        Next(ImportOperation, requestId, fingerprint, now, h => h with { HistoryKvTokens = 0 })
            with { SystemPrompt = systemPrompt, Appended = messages };

    /// <summary>
    /// A completed turn: the seed history of a new conversation (if any), the user message and the reply.
    /// <paramref name="replyStart"/>/<paramref name="replyLength"/> locate the generated ids in the reply's token ids.
    /// <paramref name="window"/>: where the model's view starts from now on, when the turn moved it.
    /// </summary>
    public ConversationChange PlanTurn(string requestId, ulong fingerprint, TurnSeed? seed, ConversationMessage user,
        ConversationMessage reply, int replyStart, int replyLength, string silo, int heldKvTokens, DateTimeOffset now, TurnWindow? window = null,
        IReadOnlyList<ConversationMessage>? items = null)
    {
        var appended = new List<ConversationMessage>((seed?.Messages.Count ?? 0) + (items?.Count ?? 0) + 2);
        if (seed is not null)
        {
            appended.AddRange(seed.Messages);
        }

        if (items is not null)
        {
            appended.AddRange(items);
        }

        appended.Add(user);
        appended.Add(reply);
        var change = Next(SendOperation, requestId, fingerprint, now,
            h => window is null
                ? h with { Turns = h.Turns + 1, HistoryKvTokens = heldKvTokens, LastSilo = silo }
                : h with
                {
                    Turns = h.Turns + 1, HistoryKvTokens = heldKvTokens, LastSilo = silo,
                    WindowStart = h.Base + window.Index, WindowHead = window.Head,
                });
        return change with
        {
            SystemPrompt = seed?.SystemPrompt,
            Appended = appended,
            Applied = change.Applied with
            {
                MessageIndex = change.Header.Base + _messages.Count + appended.Count - 1,
                ReplyStart = replyStart,
                ReplyLength = replyLength,
                Silo = silo,
            },
        };
    }

    /// <summary>Takes a change the store accepted. Never fails: everything was checked while planning.</summary>
    public void Apply(ConversationChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (change.ExpectedVersion != Version)
        {
            throw new InvalidOperationException($"change planned on version {change.ExpectedVersion} applied to version {Version}");
        }

        Incarnation = change.Incarnation;
        Version = change.Version;
        Header = change.Header;
        if (change.SystemPrompt is { } system)
        {
            SystemPrompt = system;
        }

        if (change.DefaultOptionsChanged)
        {
            DefaultOptions = change.DefaultOptions;
        }

        if (change.Annotations is { } annotations)
        {
            Annotations = annotations;
        }

        if (change.ClearMessages)
        {
            _messages.Clear();
            _messageTokens = 0;
            _viewTokens = 0;
            _windowIndex = 0;
        }

        Append(change.Appended);
        MoveWindow();
        Applied.Add(change.RequestId, change.Applied);
    }

    private ConversationChange Next(string operation, string requestId, ulong fingerprint, DateTimeOffset now,
        Func<ConversationHeader, ConversationHeader>? header = null)
    {
        var current = Exists ? Header : new ConversationHeader { CreatedAt = now };
        var next = (header?.Invoke(current) ?? current) with { UpdatedAt = now };
        return new ConversationChange
        {
            RequestId = requestId,
            ExpectedIncarnation = Exists ? Incarnation : null,
            ExpectedVersion = Version,
            Incarnation = Exists ? Incarnation! : Guid.NewGuid().ToString("N"),
            Header = next,
            Applied = new AppliedChange { Operation = operation, Version = Version + 1, Fingerprint = fingerprint },
        };
    }

    private void Append(IReadOnlyList<ConversationMessage> messages)
    {
        foreach (var message in messages)
        {
            _messages.Add(message);
            _messageTokens += message.TokenIds.Count;
            _viewTokens += message.TokenIds.Count;
        }
    }

    /// <summary>Follows the header's window start; counts the view again only when the window moved (rare: once per half window).</summary>
    private void MoveWindow()
    {
        var index = (int)Math.Clamp(Header.WindowStart - Header.Base, 0, _messages.Count);
        if (index == _windowIndex && _viewTokens <= _messageTokens)
        {
            return;
        }

        _windowIndex = index;
        _viewTokens = 0;
        for (var i = index; i < _messages.Count; i++)
        {
            _viewTokens += _messages[i].TokenIds.Count;
        }
    }
}
