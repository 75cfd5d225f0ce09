using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>POST /v1/responses: the fields of OpenAI's request this server reads (others are ignored).</summary>
public sealed class CreateResponseRequest
{
    public string? Model { get; set; }
    /// <summary>A string, or a list of message items.</summary>
    public JsonElement? Input { get; set; }
    public string? Instructions { get; set; }
    public string? PreviousResponseId { get; set; }
    /// <summary>A conversation id, or an object with an "id".</summary>
    public JsonElement? Conversation { get; set; }
    public bool? Store { get; set; }
    public bool? Stream { get; set; }
    public int? MaxOutputTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public string? Truncation { get; set; }
    public Dictionary<string, string>? Metadata { get; set; }
    public string? User { get; set; }
}

/// <summary>POST /v1/conversations.</summary>
public sealed class CreateOpenAiConversationRequest
{
    public JsonElement? Items { get; set; }
    public Dictionary<string, string>? Metadata { get; set; }
}

/// <summary>POST /v1/conversations/{id}/items, and POST /v1/conversations/{id} (metadata).</summary>
public sealed class ConversationItemsRequest
{
    public JsonElement? Items { get; set; }
    public Dictionary<string, string>? Metadata { get; set; }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(CreateResponseRequest))]
[JsonSerializable(typeof(CreateOpenAiConversationRequest))]
[JsonSerializable(typeof(ConversationItemsRequest))]
public sealed partial class ResponsesJsonContext : JsonSerializerContext;
