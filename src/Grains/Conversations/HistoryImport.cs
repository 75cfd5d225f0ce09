using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// Turns a client's history into stored messages with the ids of their template segments. Linear in the
/// history's size: each message renders in a window of itself and the one before it, the count is checked
/// before anything renders, and encoding stops at the first token beyond the context window.
/// </summary>
public static class HistoryImport
{
    /// <param name="prompts">The model's template and tokenizer.</param>
    /// <param name="messages">Roles and contents; a system message may come first only.</param>
    /// <param name="current">The conversation's system prompt, kept when <paramref name="messages"/> has none.</param>
    /// <param name="reserve">Tokens that must stay free after the history (the next user message and the reply).</param>
    /// <exception cref="InvalidConversationRequestException">A message is invalid, or the history does not fit.</exception>
    public static TurnSeed Build(PromptBuilder prompts, IReadOnlyList<ConversationMessage> messages, SystemPromptRecord current,
        string requestId, DateTimeOffset now, int reserve)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(messages);
        var budget = prompts.ContextLength - reserve;

        // Every message takes at least one token: a list this long cannot fit whatever its contents.
        if (messages.Count > budget)
        {
            throw TooLong($"{messages.Count} messages", prompts.ContextLength);
        }

        var start = 0;
        SystemPromptRecord? system = null;
        var used = current.TokenIds.Count;
        ChatMessage? previous = current.Text is { } currentText ? new ChatMessage(ChatRole.System, currentText) : null;
        if (messages.Count > 0 && messages[0].Role == MessageRole.System)
        {
            var text = Content(messages[0], 0);
            previous = new ChatMessage(ChatRole.System, text);
            if (!prompts.TryEncode(prompts.Segment(null, previous), budget, out var ids))
            {
                throw TooLong("the system prompt", prompts.ContextLength);
            }

            system = new SystemPromptRecord { Text = text, TokenIds = ids };
            used = ids.Length;
            start = 1;
        }

        var stored = new List<ConversationMessage>(messages.Count - start);
        for (var i = start; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw new InvalidConversationRequestException($"message {i} is null");
            var role = message.Role switch
            {
                MessageRole.User => ChatRole.User,
                MessageRole.Assistant => ChatRole.Assistant,
                MessageRole.System => throw new InvalidConversationRequestException("a system message may only come first"),
                _ => throw new InvalidConversationRequestException($"message {i} has an unknown role"),
            };
            var chat = new ChatMessage(role, Content(message, i));
            if (!prompts.TryEncode(prompts.Segment(previous, chat), budget - used, out var ids))
            {
                throw TooLong($"the history up to message {i}", prompts.ContextLength);
            }

            used += ids.Length;
            previous = chat;
            stored.Add(new ConversationMessage
            {
                Role = message.Role,
                Content = chat.Content,
                RequestId = requestId,
                TokenIds = ids,
                Timestamp = now,
                FinishReason = message.Role == MessageRole.Assistant ? ReplyFinishReason.Stop : null,
            });
        }

        return new TurnSeed(system, stored, used, previous);
    }

    /// <summary>
    /// Messages appended to a conversation that has some already: each renders after the one before it (the last
    /// stored message first). They must fit what is left of the window, or, for a conversation that truncates, the
    /// window beside the system prompt (the next turn drops older turns). No system message.
    /// </summary>
    public static IReadOnlyList<ConversationMessage> After(PromptBuilder prompts, IReadOnlyList<ConversationMessage> messages, ConversationLog log,
        bool truncates, string requestId, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(log);
        ChatMessage? previous = log.Messages.Count > 0 ? log.Messages[^1].ToChat()
            : log.SystemPrompt.Text is { } system ? new ChatMessage(ChatRole.System, system) : null;
        return After(prompts, messages, previous, truncates ? log.SystemPrompt.TokenIds.Count : log.HistoryTokens, reserve: 1, requestId, now);
    }

    /// <summary>Messages rendered after <paramref name="previous"/>, within the window minus <paramref name="used"/> and <paramref name="reserve"/> tokens.</summary>
    public static IReadOnlyList<ConversationMessage> After(PromptBuilder prompts, IReadOnlyList<ConversationMessage> messages, ChatMessage? previous,
        int used, int reserve, string requestId, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(messages);
        var budget = prompts.ContextLength - reserve;
        if (messages.Count > budget - used)
        {
            throw TooLong($"{messages.Count} messages", prompts.ContextLength);
        }

        var stored = new List<ConversationMessage>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw new InvalidConversationRequestException($"message {i} is null");
            if (message.Role is not (MessageRole.User or MessageRole.Assistant))
            {
                throw new InvalidConversationRequestException("only user and assistant messages can be added to a conversation that has messages");
            }

            var chat = new ChatMessage(message.Role.ToChatRole(), Content(message, i));
            if (!prompts.TryEncode(prompts.Segment(previous, chat), budget - used, out var ids))
            {
                throw TooLong($"the conversation with item {i}", prompts.ContextLength);
            }

            used += ids.Length;
            previous = chat;
            stored.Add(new ConversationMessage
            {
                Role = message.Role, Content = chat.Content, RequestId = requestId, TokenIds = ids, Timestamp = now,
                FinishReason = message.Role == MessageRole.Assistant ? ReplyFinishReason.Stop : null,
            });
        }

        return stored;
    }

    private static string Content(ConversationMessage message, int index) =>
        message.Content ?? throw new InvalidConversationRequestException($"message {index} has no content");

    private static ContextLengthExceededException TooLong(string what, int context) =>
        new($"{what} does not fit the model's context window of {context} tokens (with room for the next turn)");
}
