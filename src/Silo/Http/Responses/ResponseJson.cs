using System.Text.Json;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>
/// OpenAI's Responses and Conversations objects, written field by field: every field the SDKs read is present (null
/// when it has no value), which the source-generated contracts of this server (nulls omitted) would not give.
/// </summary>
public static class ResponseJson
{
    public static void WriteResponse(Utf8JsonWriter json, ResponseView response)
    {
        json.WriteStartObject();
        json.WriteString("id", response.Id);
        json.WriteString("object", "response");
        json.WriteNumber("created_at", response.CreatedAt);
        json.WriteString("status", response.Status);
        json.WriteNull("error");
        if (response.Status == "incomplete")
        {
            json.WriteStartObject("incomplete_details");
            json.WriteString("reason", "max_output_tokens");
            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("incomplete_details");
        }

        WriteNullable(json, "instructions", response.Instructions);
        if (response.MaxOutputTokens is { } max)
        {
            json.WriteNumber("max_output_tokens", max);
        }
        else
        {
            json.WriteNull("max_output_tokens");
        }

        json.WriteString("model", response.Model);
        json.WriteStartArray("output");
        if (response.Status != "in_progress")
        {
            WriteOutputMessage(json, response.MessageId, response.Text, "completed");
        }

        json.WriteEndArray();
        json.WriteString("output_text", response.Text);
        json.WriteBoolean("parallel_tool_calls", false);
        WriteNullable(json, "previous_response_id", response.PreviousResponseId);
        if (response.ConversationId is { } conversation)
        {
            json.WriteStartObject("conversation");
            json.WriteString("id", conversation);
            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("conversation");
        }

        json.WriteStartObject("reasoning");
        json.WriteNull("effort");
        json.WriteNull("summary");
        json.WriteEndObject();
        json.WriteBoolean("store", response.Store);
        WriteNumber(json, "temperature", response.Temperature ?? 1f);
        json.WriteStartObject("text");
        json.WriteStartObject("format");
        json.WriteString("type", "text");
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteString("tool_choice", "auto");
        json.WriteStartArray("tools");
        json.WriteEndArray();
        WriteNumber(json, "top_p", response.TopP ?? 1f);
        json.WriteString("truncation", response.Truncation);
        if (response.Usage is { } usage && response.Status != "in_progress")
        {
            WriteUsage(json, usage);
        }
        else
        {
            json.WriteNull("usage");
        }

        WriteNullable(json, "user", response.User);
        WriteMetadata(json, response.Metadata);
        json.WriteEndObject();
    }

    public static void WriteUsage(Utf8JsonWriter json, TurnUsage usage)
    {
        json.WriteStartObject("usage");
        json.WriteNumber("input_tokens", usage.PromptTokens);
        json.WriteStartObject("input_tokens_details");
        json.WriteNumber("cached_tokens", usage.CachedTokens);
        json.WriteEndObject();
        json.WriteNumber("output_tokens", usage.CompletionTokens);
        json.WriteStartObject("output_tokens_details");
        json.WriteNumber("reasoning_tokens", 0);
        json.WriteEndObject();
        json.WriteNumber("total_tokens", usage.TotalTokens);
        // Ours, beside OpenAI's: what the context-window policy left out of the model's view.
        json.WriteNumber("truncated_tokens", usage.TruncatedTokens);
        json.WriteEndObject();
    }

    /// <summary>An assistant output message item.</summary>
    public static void WriteOutputMessage(Utf8JsonWriter json, string id, string text, string status)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("type", "message");
        json.WriteString("status", status);
        json.WriteString("role", "assistant");
        json.WriteStartArray("content");
        if (status == "completed")
        {
            WriteOutputText(json, text);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteOutputText(Utf8JsonWriter json, string text)
    {
        json.WriteStartObject();
        json.WriteString("type", "output_text");
        json.WriteString("text", text);
        json.WriteStartArray("annotations");
        json.WriteEndArray();
        json.WriteStartArray("logprobs");
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>A stored message as a conversation item (user text is input_text, assistant text output_text).</summary>
    public static void WriteItem(Utf8JsonWriter json, string id, ConversationMessage message)
    {
        if (message.Role == MessageRole.Assistant)
        {
            WriteOutputMessage(json, id, message.Content, "completed");
            return;
        }

        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("type", "message");
        json.WriteString("status", "completed");
        json.WriteString("role", message.Role == MessageRole.System ? "system" : "user");
        json.WriteStartArray("content");
        json.WriteStartObject();
        json.WriteString("type", "input_text");
        json.WriteString("text", message.Content);
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>A list object: {object: "list", data, first_id, last_id, has_more}.</summary>
    public static void WriteItemList(Utf8JsonWriter json, IReadOnlyList<(string Id, ConversationMessage Message)> items, bool hasMore)
    {
        json.WriteStartObject();
        json.WriteString("object", "list");
        json.WriteStartArray("data");
        foreach (var (id, message) in items)
        {
            WriteItem(json, id, message);
        }

        json.WriteEndArray();
        WriteNullable(json, "first_id", items.Count > 0 ? items[0].Id : null);
        WriteNullable(json, "last_id", items.Count > 0 ? items[^1].Id : null);
        json.WriteBoolean("has_more", hasMore);
        json.WriteEndObject();
    }

    public static void WriteConversation(Utf8JsonWriter json, string id, DateTimeOffset createdAt, IReadOnlyDictionary<string, string>? metadata)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", "conversation");
        json.WriteNumber("created_at", createdAt.ToUnixTimeSeconds());
        WriteMetadata(json, metadata);
        json.WriteEndObject();
    }

    public static void WriteDeleted(Utf8JsonWriter json, string id, string objectName)
    {
        json.WriteStartObject();
        json.WriteString("id", id);
        json.WriteString("object", objectName);
        json.WriteBoolean("deleted", true);
        json.WriteEndObject();
    }

    private static void WriteMetadata(Utf8JsonWriter json, IReadOnlyDictionary<string, string>? metadata)
    {
        json.WriteStartObject("metadata");
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            json.WriteString(key, value);
        }

        json.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteNumber(Utf8JsonWriter json, string name, float value)
    {
        json.WritePropertyName(name);
        json.WriteNumberValue(Math.Round((double)value, 6));
    }
}
