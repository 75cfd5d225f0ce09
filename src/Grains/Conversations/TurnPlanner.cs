using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// A turn's prompt and context arithmetic, before anything runs and linear in the request and the history: the
/// stored ids + (a new conversation's seed history) + the user segment + the generation prompt; the new tokens
/// asked for must fit what is left of the context window. Every refusal is a typed error and changes nothing.
/// </summary>
public static class TurnPlanner
{
    public const int DefaultMaxNewTokens = 256;

    public static ulong Fingerprint(TurnRequest request) =>
        RequestFingerprint.Of(ConversationLog.SendOperation, request.Items is { Count: > 0 } items
            ? string.Join('\u0001', items.Select(m => $"{m.Role}:{m.Content}").Append(request.Message))
            : request.Message, request.Options);

    /// <exception cref="InvalidConversationRequestException">Empty message, bad options, beyond the context window.</exception>
    /// <exception cref="ConversationNotFoundException">The request requires an existing conversation.</exception>
    /// <param name="fork">A fork's seed (<see cref="ForkPlanner.Seed"/>), taken instead of the request's seed.</param>
    public static PlannedTurn Plan(ConversationLog log, TurnRequest request, string sequenceId, PromptBuilder prompts, DateTimeOffset now,
        TurnSeed? fork = null)
    {
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.Message))
        {
            throw new InvalidConversationRequestException("the message is empty");
        }

        if (request.RequireExisting && !log.Exists)
        {
            throw new ConversationNotFoundException($"conversation '{ConversationKeys.IdOf(sequenceId)}' does not exist");
        }

        if (request.ContinuesFrom is { } head && (log.Messages.Count == 0 || !string.Equals(log.Messages[^1].RequestId, head, StringComparison.Ordinal)))
        {
            throw new ConversationChangedException(
                $"conversation '{ConversationKeys.IdOf(sequenceId)}' moved on: its latest response is no longer the one this turn continues");
        }

        var options = (request.Options ?? new GenerationOptions()).Over(log.DefaultOptions);
        options.Validate();

        var context = prompts.ContextLength;
        TurnSeed? seed = null;
        int history;
        ChatMessage? previous;
        // A seed fills an empty conversation only (a new one, or one created without a system prompt or messages).
        if (log.Messages.Count == 0 && log.SystemPrompt.Text is null && (fork is not null || request.Seed is { Count: > 0 }))
        {
            seed = fork ?? HistoryImport.Build(prompts, request.Seed!, log.SystemPrompt, request.RequestId, now, reserve: 2);
            history = seed.Tokens;
            previous = seed.Last;
        }
        else
        {
            history = log.HistoryTokens;
            previous = Last(log);
        }

        var user = new ChatMessage(ChatRole.User, request.Message);
        var truncation = seed is null ? options.Truncation ?? TruncationMode.Disabled : TruncationMode.Disabled;
        // With truncation the whole history may leave the view: the message may take all but the system prompt.
        var floor = truncation == TruncationMode.Auto ? log.SystemPrompt.TokenIds.Count : history;
        IReadOnlyList<ConversationMessage> items = [];
        var itemTokens = 0;
        if (request.Items is { Count: > 0 } inputItems)
        {
            items = HistoryImport.After(prompts, inputItems, previous, floor, reserve: 2, request.RequestId, now);
            itemTokens = items.Sum(m => m.TokenIds.Count);
            floor += itemTokens;
            previous = items[^1].ToChat();
        }

        if (!prompts.TryEncode(prompts.Segment(previous, user), context - floor - 1, out var userIds))
        {
            throw new ContextLengthExceededException(
                $"the message does not fit: the history takes {history} of the model's {context} context tokens");
        }

        var generationPrompt = prompts.GenerationPrompt(user);
        var generationPromptIds = prompts.Encode(generationPrompt);
        var wanted = Math.Min(options.MaxNewTokens ?? DefaultMaxNewTokens, context);
        TurnWindow? window = null;
        history += itemTokens;
        if (truncation == TruncationMode.Auto && history + userIds.Length + generationPromptIds.Length + wanted > context)
        {
            window = Truncate(log, prompts, user, itemTokens + userIds.Length + generationPromptIds.Length + wanted, context);
            if (window is not null)
            {
                history = log.SystemPrompt.TokenIds.Count + window.Head.Length + (log.MessageTokens - window.DroppedTokens) + itemTokens;
            }
        }

        var length = history + userIds.Length + generationPromptIds.Length;
        if (length >= context)
        {
            throw new ContextLengthExceededException(
                $"the prompt would have {length} tokens ({userIds.Length} of them this message); the model's context window is {context} tokens");
        }

        var room = context - length;
        if (options.MaxNewTokens is { } requested && requested > room)
        {
            throw new ContextLengthExceededException(
                $"max new tokens ({requested}) + prompt ({length} tokens) exceed the context window of {context} tokens");
        }

        var prompt = new List<int>(length);
        if (seed is not null)
        {
            prompt.AddRange(seed.SystemPrompt?.TokenIds ?? log.SystemPrompt.TokenIds);
            foreach (var message in seed.Messages)
            {
                prompt.AddRange(message.TokenIds);
            }
        }
        else if (window is null)
        {
            log.CopyHistory(prompt);
        }
        else
        {
            prompt.AddRange(log.SystemPrompt.TokenIds);
            prompt.AddRange(window.Head);
            for (var i = window.Index; i < log.Messages.Count; i++)
            {
                prompt.AddRange(log.Messages[i].TokenIds);
            }
        }

        foreach (var item in items)
        {
            prompt.AddRange(item.TokenIds);
        }

        prompt.AddRange(userIds);
        prompt.AddRange(generationPromptIds);
        options = options with { MaxNewTokens = options.MaxNewTokens ?? Math.Min(DefaultMaxNewTokens, room) };
        return new PlannedTurn(request.RequestId, Fingerprint(request), seed, user, userIds, generationPrompt, generationPromptIds, history,
            new Engine.EngineWork(sequenceId, prompt, options))
        {
            Window = window,
            Ephemeral = request.Ephemeral,
            Items = items,
            TruncatedTokens = window?.DroppedTokens ?? log.TruncatedTokens,
        };
    }

    /// <summary>
    /// Truncation "auto": moves the window past the oldest whole turns (a user message and what follows it up to
    /// the next one) until the view and <paramref name="tail"/> (the new message, the generation prompt and the
    /// reply's room) take at most half the window, or nothing is left to drop. Dropping to half at once makes the
    /// re-prefill this costs happen once per half window instead of on every later turn. Linear in the history.
    /// Null when nothing can be dropped.
    /// </summary>
    private static TurnWindow? Truncate(ConversationLog log, PromptBuilder prompts, ChatMessage user, int tail, int context)
    {
        var messages = log.Messages;
        var system = log.SystemPrompt.TokenIds.Count;
        var index = log.WindowIndex;
        var view = log.MessageTokens - log.TruncatedTokens;
        var target = context / 2;
        while (index < messages.Count && system + view + tail > target)
        {
            do
            {
                view -= messages[index].TokenIds.Count;
                index++;
            }
            while (index < messages.Count && messages[index].Role != MessageRole.User);
        }

        if (index == log.WindowIndex)
        {
            return null;
        }

        // The first message of the view was rendered after another; without a system prompt to open the prompt,
        // the template's opening (a begin-of-text marker) must come first.
        var head = system > 0 ? [] : index < messages.Count
            ? prompts.Encode(prompts.FirstHead(messages[index - 1].ToChat(), messages[index].ToChat()))
            : prompts.Encode(prompts.FirstHead(messages[^1].ToChat(), user));
        return new TurnWindow(index, head, log.MessageTokens - view);
    }

    /// <summary>
    /// The messages a completed turn stores: the user's, and the assistant's as the model saw it (generation prompt +
    /// generated ids + the template's close). A stop sequence was trimmed from the text but its tokens were
    /// generated: the kept text is tokenized again, so the stored ids match the text.
    /// </summary>
    public static (ConversationMessage User, ConversationMessage Reply, int ReplyStart, int ReplyLength) Messages(PlannedTurn turn,
        PromptBuilder prompts, string text, IReadOnlyList<int> generated, ReplyFinishReason reason, TurnUsage usage, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(turn);
        var replyIds = reason == ReplyFinishReason.StopSequence ? prompts.Encode(text) : [.. generated];
        var close = prompts.AssistantClose(turn.User, new ChatMessage(ChatRole.Assistant, text), turn.GenerationPrompt);
        var ids = new int[turn.GenerationPromptIds.Length + replyIds.Length + close.Length];
        turn.GenerationPromptIds.CopyTo(ids, 0);
        replyIds.CopyTo(ids, turn.GenerationPromptIds.Length);
        close.CopyTo(ids, turn.GenerationPromptIds.Length + replyIds.Length);
        var user = new ConversationMessage
        {
            Role = MessageRole.User, Content = turn.User.Content, RequestId = turn.RequestId, TokenIds = turn.UserIds, Timestamp = now,
        };
        var reply = new ConversationMessage
        {
            Role = MessageRole.Assistant, Content = text, RequestId = turn.RequestId, TokenIds = ids, Timestamp = now,
            FinishReason = reason, Usage = usage,
        };
        return (user, reply, turn.GenerationPromptIds.Length, replyIds.Length);
    }

    private static ChatMessage? Last(ConversationLog log)
    {
        if (log.Messages.Count > 0)
        {
            return log.Messages[^1].ToChat();
        }

        return log.SystemPrompt.Text is { } system ? new ChatMessage(ChatRole.System, system) : null;
    }
}
