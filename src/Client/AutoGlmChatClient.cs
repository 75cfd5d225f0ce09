using System.Runtime.CompilerServices;
using AutoGlm.Orleans.Abstractions;
using Microsoft.Extensions.AI;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace AutoGlm.Orleans.Client;

/// <summary>
/// <see cref="IChatClient"/> over the cluster. The conversation lives on the server: <see cref="ChatOptions.ConversationId"/>
/// names it (a new one is created and returned in the response's ConversationId when unset) and only the last user
/// message of <c>messages</c> is sent; a system message, when present, sets the conversation's system prompt if it
/// differs. <c>AdditionalProperties["request_id"]</c> sets the turn's idempotency key, and
/// <c>AdditionalProperties["truncation"]</c> (<c>"auto"</c> or <c>"disabled"</c>, or a <see cref="TruncationMode"/>) the
/// turn's context-window policy.
/// </summary>
public sealed class AutoGlmChatClient(ConversationClient conversations) : IChatClient
{
    public const string RequestIdProperty = "request_id";

    public const string TruncationProperty = "truncation";

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        // The options first: a bad one must fail before the conversation is created or its system prompt changed.
        var generation = ToOptions(options);
        var (conversationId, message, requestId) = await PrepareAsync(messages, options, cancellationToken);
        var reply = await conversations.SendAsync(conversationId, message, generation, requestId, cancellationToken);
        return new ChatResponse(new AiChatMessage(AiChatRole.Assistant, reply.Text))
        {
            ConversationId = conversationId,
            ResponseId = reply.RequestId,
            FinishReason = ToFinishReason(reply.FinishReason),
            Usage = ToUsage(reply.Usage),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages,
        ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var generation = ToOptions(options);
        var (conversationId, message, requestId) = await PrepareAsync(messages, options, cancellationToken);
        await foreach (var chunk in conversations.SendStreamingAsync(conversationId, message, generation, requestId, cancellationToken))
        {
            var update = new ChatResponseUpdate(AiChatRole.Assistant, chunk.Text)
            {
                ConversationId = conversationId,
                ResponseId = requestId,
                MessageId = requestId,
            };
            if (chunk.IsFinal)
            {
                update.FinishReason = ToFinishReason(chunk.FinishReason!.Value);
                if (chunk.Usage is { } usage)
                {
                    update.Contents.Add(new UsageContent(ToUsage(usage)));
                }
            }

            yield return update;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : serviceKey is null && serviceType == typeof(ConversationClient) ? conversations
        : null;

    public void Dispose()
    {
    }

    private async Task<(string ConversationId, string Message, string RequestId)> PrepareAsync(IEnumerable<AiChatMessage> messages,
        ChatOptions? options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages as IReadOnlyList<AiChatMessage> ?? [.. messages];
        var last = list.LastOrDefault(m => m.Role == AiChatRole.User)
            ?? throw new ArgumentException("the messages hold no user message to send", nameof(messages));
        var conversationId = string.IsNullOrEmpty(options?.ConversationId) ? Guid.NewGuid().ToString("N") : options.ConversationId;
        var requestId = options?.AdditionalProperties?.TryGetValue(RequestIdProperty, out var id) == true && id is string s && s.Length > 0
            ? s
            : ConversationClient.NewRequestId();
        var system = list.LastOrDefault(m => m.Role == AiChatRole.System)?.Text;
        if (system is not null)
        {
            var status = await conversations.GetStatusAsync(conversationId).WaitAsync(cancellationToken);
            if (!string.Equals(status.SystemPrompt, system, StringComparison.Ordinal))
            {
                await conversations.SetSystemPromptAsync(conversationId, system, requestId + ":system");
            }
        }

        return (conversationId, last.Text, requestId);
    }

    private static GenerationOptions? ToOptions(ChatOptions? options) => options is null ? null : new GenerationOptions
    {
        Temperature = options.Temperature,
        TopK = options.TopK,
        TopP = options.TopP,
        Seed = options.Seed is { } seed ? unchecked((ulong)seed) : null,
        MaxNewTokens = options.MaxOutputTokens,
        StopSequences = options.StopSequences is { Count: > 0 } stops ? stops.ToArray() : null,
        Truncation = ToTruncation(options.AdditionalProperties),
    };

    /// <summary>The "truncation" property as OpenAI spells it; null (the conversation's default) when absent.</summary>
    private static TruncationMode? ToTruncation(AdditionalPropertiesDictionary? properties)
    {
        if (properties is null || !properties.TryGetValue(TruncationProperty, out var value) || value is null)
        {
            return null;
        }

        var text = value switch
        {
            TruncationMode mode => mode.ToString(),
            string s => s,
            System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.String } json => json.GetString(),
            _ => null,
        };
        return text?.ToLowerInvariant() switch
        {
            "auto" => TruncationMode.Auto,
            "disabled" => TruncationMode.Disabled,
            _ => throw new ArgumentException($"AdditionalProperties[\"{TruncationProperty}\"] must be \"auto\" or \"disabled\", not {value}", "options"),
        };
    }

    private static ChatFinishReason ToFinishReason(ReplyFinishReason reason) => reason switch
    {
        ReplyFinishReason.Length => ChatFinishReason.Length,
        ReplyFinishReason.Cancelled => new ChatFinishReason("cancelled"),
        _ => ChatFinishReason.Stop,
    };

    private static UsageDetails ToUsage(TurnUsage usage) => new()
    {
        InputTokenCount = usage.PromptTokens,
        OutputTokenCount = usage.CompletionTokens,
        TotalTokenCount = usage.TotalTokens,
        CachedInputTokenCount = usage.CachedTokens,
        // What the context-window policy left out of the prompt: how a caller with truncation "auto" sees it act.
        AdditionalCounts = usage.TruncatedTokens > 0 ? new() { ["truncated_tokens"] = usage.TruncatedTokens } : null,
    };
}
