using System.Text;
using System.Text.Json;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// An OpenAI request mapped onto a conversation: <see cref="Prefix"/> is what the conversation must already hold
/// (a system message first becomes the system prompt), <see cref="UserMessage"/> is the new turn.
/// </summary>
public sealed record MappedChatRequest(
    string Model,
    IReadOnlyList<ConversationMessage> Prefix,
    string UserMessage,
    GenerationOptions Options,
    bool Stream,
    bool IncludeUsage,
    bool IncludeTokenCounts = false);

/// <summary>Validates OpenAI's request fields and maps them; every violation is a 400 naming the field.</summary>
public static class ChatRequestMapping
{
    public const int MaxMessages = 4096;
    public const int MaxStopSequences = 4;

    public static MappedChatRequest Map(ChatCompletionRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Model))
        {
            throw HttpApiException.BadRequest("'model' is required", "model", "missing_required_parameter");
        }

        if (request.N is { } n && n != 1)
        {
            throw HttpApiException.BadRequest($"'n' must be 1 (this server generates one choice per request); got {n}", "n");
        }

        if (request.Messages is not { Count: > 0 } messages)
        {
            throw HttpApiException.BadRequest("'messages' must be a non-empty array", "messages");
        }

        if (messages.Count > MaxMessages)
        {
            throw HttpApiException.BadRequest($"'messages' has more than {MaxMessages} entries", "messages");
        }

        var mapped = new List<ConversationMessage>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i] ?? throw HttpApiException.BadRequest($"messages[{i}] is null", $"messages[{i}]");
            var role = message.Role switch
            {
                "system" or "developer" => MessageRole.System,
                "user" => MessageRole.User,
                "assistant" => MessageRole.Assistant,
                null => throw HttpApiException.BadRequest($"messages[{i}].role is required", $"messages[{i}].role"),
                _ => throw HttpApiException.BadRequest(
                    $"messages[{i}].role '{message.Role}' is not supported (system, developer, user, assistant)", $"messages[{i}].role"),
            };
            if (role == MessageRole.System && i != 0)
            {
                throw HttpApiException.BadRequest($"messages[{i}]: a system message may only come first", $"messages[{i}].role");
            }

            mapped.Add(new ConversationMessage { Role = role, Content = Content(message.Content, i) });
        }

        if (mapped[^1].Role != MessageRole.User)
        {
            throw HttpApiException.BadRequest("the last message must be a user message (the new turn)", $"messages[{mapped.Count - 1}].role");
        }

        if (string.IsNullOrWhiteSpace(mapped[^1].Content))
        {
            throw HttpApiException.BadRequest("the last user message is empty", $"messages[{mapped.Count - 1}].content");
        }

        var maxTokens = request.MaxCompletionTokens ?? request.MaxTokens;
        if (maxTokens is < 1)
        {
            throw HttpApiException.BadRequest($"'max_tokens' / 'max_completion_tokens' must be at least 1; got {maxTokens}",
                request.MaxCompletionTokens is null ? "max_tokens" : "max_completion_tokens");
        }

        var options = Options(request.Temperature, request.TopP, maxTokens, request.Stop, request.Seed) with
        {
            IgnoreEndOfTurn = request.IgnoreEos,
        };
        var stream = request.Stream ?? false;
        return new MappedChatRequest(request.Model, mapped.Take(mapped.Count - 1).ToArray(), mapped[^1].Content, options, stream,
            stream && request.StreamOptions?.IncludeUsage == true, stream && request.StreamOptions?.IncludeTokenCounts == true);
    }

    /// <summary>Sampling knobs shared by the OpenAI and the native API.</summary>
    public static GenerationOptions Options(float? temperature, float? topP, int? maxTokens, JsonElement? stop, long? seed)
    {
        if (temperature is { } t && (!float.IsFinite(t) || t < 0 || t > 2))
        {
            throw HttpApiException.BadRequest($"'temperature' must be between 0 and 2; got {t}", "temperature");
        }

        if (topP is { } p && (!float.IsFinite(p) || p <= 0 || p > 1))
        {
            throw HttpApiException.BadRequest($"'top_p' must be in (0, 1]; got {p}", "top_p");
        }

        if (maxTokens is < 1)
        {
            throw HttpApiException.BadRequest($"'max_tokens' must be at least 1; got {maxTokens}", "max_tokens");
        }

        return new GenerationOptions
        {
            Temperature = temperature,
            TopP = topP,
            MaxNewTokens = maxTokens,
            StopSequences = StopSequences(stop),
            Seed = seed is { } s ? unchecked((ulong)s) : null,
        };
    }

    private static string[]? StopSequences(JsonElement? stop)
    {
        if (stop is not { } element || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        string[] values = element.ValueKind switch
        {
            JsonValueKind.String => [element.GetString()!],
            JsonValueKind.Array when element.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) =>
                [.. element.EnumerateArray().Select(e => e.GetString()!)],
            _ => throw HttpApiException.BadRequest("'stop' must be a string or an array of strings", "stop"),
        };
        if (values.Length > MaxStopSequences || values.Any(string.IsNullOrEmpty))
        {
            throw HttpApiException.BadRequest($"'stop' takes up to {MaxStopSequences} non-empty strings", "stop");
        }

        return values.Length == 0 ? null : values;
    }

    private static string Content(JsonElement? content, int index)
    {
        var param = $"messages[{index}].content";
        if (content is not { } element || element.ValueKind == JsonValueKind.Null)
        {
            throw HttpApiException.BadRequest($"{param} is required (tool calls are not supported)", param);
        }

        if (element.ValueKind == JsonValueKind.String)
        {
            return element.GetString()!;
        }

        if (element.ValueKind != JsonValueKind.Array)
        {
            throw HttpApiException.BadRequest($"{param} must be a string or an array of text parts", param);
        }

        var text = new StringBuilder();
        foreach (var part in element.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object
                || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "text"
                || !part.TryGetProperty("text", out var value) || value.ValueKind != JsonValueKind.String)
            {
                throw HttpApiException.BadRequest($"{param}: only text parts ({{\"type\": \"text\", \"text\": ...}}) are supported", param);
            }

            text.Append(value.GetString());
        }

        return text.ToString();
    }
}
