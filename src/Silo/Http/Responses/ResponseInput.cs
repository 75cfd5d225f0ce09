using System.Text;
using System.Text.Json;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>
/// OpenAI input items as stored messages: a string is one user message; a list holds message items (role user,
/// assistant, system or developer; content a string or input_text/output_text parts). Anything else (images,
/// files, tool calls) is refused with a message naming what is supported. Linear in the input.
/// </summary>
public static class ResponseInput
{
    public const string Supported = "supported: a string, or message items (role user, assistant, system or developer) with text content (input_text, output_text)";

    /// <summary>The messages, system/developer ones first only (they become the instructions).</summary>
    public static (string? Instructions, List<ConversationMessage> Messages) Parse(JsonElement? input, string param, bool allowEmpty = false)
    {
        var messages = new List<ConversationMessage>();
        StringBuilder? instructions = null;
        switch (input)
        {
            case { ValueKind: JsonValueKind.String } text:
                messages.Add(new ConversationMessage { Role = MessageRole.User, Content = text.GetString()! });
                break;
            case { ValueKind: JsonValueKind.Array } items:
                var index = 0;
                foreach (var item in items.EnumerateArray())
                {
                    var (role, content) = Item(item, $"{param}[{index}]");
                    if (role == MessageRole.System)
                    {
                        if (messages.Count > 0)
                        {
                            throw HttpApiException.BadRequest("system and developer messages may only come before the others (use instructions)", $"{param}[{index}]");
                        }

                        (instructions ??= new StringBuilder()).Append(instructions.Length > 0 ? "\n\n" : string.Empty).Append(content);
                    }
                    else
                    {
                        messages.Add(new ConversationMessage { Role = role, Content = content });
                    }

                    index++;
                }

                break;
            case null or { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined }:
                if (allowEmpty)
                {
                    return (null, messages);
                }

                throw new HttpApiException(StatusCodes.Status400BadRequest, "missing_required_parameter", $"'{param}' is required", param);
            default:
                throw HttpApiException.BadRequest($"'{param}' must be a string or a list of items; {Supported}", param);
        }

        if (!allowEmpty && (messages.Count == 0 || messages.TrueForAll(m => string.IsNullOrWhiteSpace(m.Content))))
        {
            throw HttpApiException.BadRequest($"'{param}' is empty", param);
        }

        return (instructions?.ToString(), messages);
    }

    private static (MessageRole Role, string Content) Item(JsonElement item, string param)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw HttpApiException.BadRequest($"each item must be an object; {Supported}", param);
        }

        var type = item.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : "message";
        if (type != "message")
        {
            throw HttpApiException.BadRequest($"item type '{type}' is not supported; {Supported}", param);
        }

        var role = item.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        var mapped = role switch
        {
            "user" => MessageRole.User,
            "assistant" => MessageRole.Assistant,
            "system" or "developer" => MessageRole.System,
            _ => throw HttpApiException.BadRequest($"role '{role}' is not supported; {Supported}", param + ".role"),
        };
        if (!item.TryGetProperty("content", out var content))
        {
            throw HttpApiException.BadRequest("a message item needs content", param + ".content");
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return (mapped, content.GetString()!);
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw HttpApiException.BadRequest($"content must be a string or a list of text parts; {Supported}", param + ".content");
        }

        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            var partType = part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var pt) ? pt.GetString() : null;
            if (partType is not ("input_text" or "output_text" or "text") || !part.TryGetProperty("text", out var value) || value.ValueKind != JsonValueKind.String)
            {
                throw HttpApiException.BadRequest($"content part type '{partType}' is not supported; {Supported}", param + ".content");
            }

            text.Append(value.GetString());
        }

        return (mapped, text.ToString());
    }
}
