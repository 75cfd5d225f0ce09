using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>POST /v1/chat/completions: the fields of OpenAI's request this server reads (others are ignored).</summary>
public sealed class ChatCompletionRequest
{
    public string? Model { get; set; }
    public List<ChatCompletionMessage>? Messages { get; set; }
    public bool? Stream { get; set; }
    public StreamOptions? StreamOptions { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public int? MaxTokens { get; set; }
    public int? MaxCompletionTokens { get; set; }
    /// <summary>A string or an array of up to 4 strings.</summary>
    public JsonElement? Stop { get; set; }
    public long? Seed { get; set; }
    public int? N { get; set; }
    /// <summary>vLLM's extension: keep generating past end-of-turn up to the token limit (benchmarks).</summary>
    public bool? IgnoreEos { get; set; }
}

public sealed class StreamOptions
{
    public bool? IncludeUsage { get; set; }
    /// <summary>
    /// Our extension: every chunk carries <c>completion_tokens</c>, the reply's tokens so far, and a chunk goes out
    /// for tokens that completed no text yet (a split UTF-8 character), so a client can time each token.
    /// </summary>
    public bool? IncludeTokenCounts { get; set; }
}

/// <summary>One message: content is a string or an array of text parts.</summary>
public sealed class ChatCompletionMessage
{
    public string? Role { get; set; }
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
}

public sealed record ChatCompletion(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<ChatCompletionChoice> Choices,
    ChatCompletionUsage Usage);

public sealed record ChatCompletionChoice(int Index, ChatCompletionResponseMessage Message, string FinishReason);

public sealed record ChatCompletionResponseMessage(string Role, string Content);

/// <param name="CompletionTokens">Our extension (<c>stream_options.include_token_counts</c>): the reply's tokens so far.</param>
public sealed record ChatCompletionChunk(
    string Id,
    string Object,
    long Created,
    string Model,
    IReadOnlyList<ChatCompletionChunkChoice> Choices,
    ChatCompletionUsage? Usage = null,
    int? CompletionTokens = null);

public sealed record ChatCompletionChunkChoice(int Index, ChatCompletionDelta Delta, string? FinishReason);

public sealed record ChatCompletionDelta(string? Role = null, string? Content = null);

public sealed record ChatCompletionUsage(
    int PromptTokens,
    int CompletionTokens,
    int TotalTokens,
    PromptTokensDetails PromptTokensDetails);

public sealed record PromptTokensDetails(int CachedTokens);

public sealed record ModelList(string Object, IReadOnlyList<ModelEntry> Data);

public sealed record ModelEntry(string Id, string Object, long Created, string OwnedBy);

/// <summary>OpenAI's error body: {"error": {"message", "type", "param", "code"}}.</summary>
public sealed record ErrorBody(ErrorDetail Error);

/// <remarks><c>param</c> is written even when null, as OpenAI does (the API's other null fields are left out).</remarks>
public sealed record ErrorDetail(string Message, string Type, [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Param, string Code);

/// <summary>POST /conversations.</summary>
public sealed class CreateConversationRequest
{
    public string? Id { get; set; }
    public string? SystemPrompt { get; set; }
    /// <summary>The conversation's context-window policy: "auto" or "disabled" (the default).</summary>
    public string? Truncation { get; set; }
}

/// <summary>PATCH /conversations/{id}: the conversation's settings.</summary>
public sealed class UpdateConversationRequest
{
    public string? Truncation { get; set; }
}

/// <summary>POST /conversations/{id}/messages.</summary>
public sealed class SendMessageRequest
{
    public string? Content { get; set; }
    public bool? Stream { get; set; }
    public string? RequestId { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public int? MaxTokens { get; set; }
    public JsonElement? Stop { get; set; }
    public long? Seed { get; set; }
    /// <summary>This turn's context-window policy, over the conversation's.</summary>
    public string? Truncation { get; set; }
}

public sealed record ConversationCreated(string Id);

/// <summary>POST /admin/drain: the silo drained (it keeps running, taking no turns) after this many seconds.</summary>
public sealed record DrainResult(bool Drained, double Seconds);

public sealed record ConversationView(
    string Id,
    string Silo,
    string? SystemPrompt,
    int HistoryTokens,
    int CachedTokens,
    bool IsGenerating,
    IReadOnlyList<MessageView> Messages,
    string Truncation = "disabled",
    int TruncatedTokens = 0);

public sealed record MessageView(string Role, string Content, int Tokens, DateTimeOffset Timestamp, string? RequestId);

public sealed record MessageReply(
    string ConversationId,
    string RequestId,
    string Content,
    string FinishReason,
    bool Replayed,
    string? Silo,
    ChatCompletionUsage Usage);

public sealed record MessageChunk(string Text);

public sealed record MessageDone(string FinishReason, string? Silo, ChatCompletionUsage Usage, bool Replayed);

/// <summary>Source-generated JSON for the HTTP API: snake_case, nulls omitted, numbers strictly typed.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = false,
    ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(ChatCompletionRequest))]
[JsonSerializable(typeof(ChatCompletion))]
[JsonSerializable(typeof(ChatCompletionChunk))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(CreateConversationRequest))]
[JsonSerializable(typeof(SendMessageRequest))]
[JsonSerializable(typeof(UpdateConversationRequest))]
[JsonSerializable(typeof(DrainResult))]
[JsonSerializable(typeof(ConversationCreated))]
[JsonSerializable(typeof(ConversationView))]
[JsonSerializable(typeof(MessageReply))]
[JsonSerializable(typeof(MessageChunk))]
[JsonSerializable(typeof(MessageDone))]
public sealed partial class HttpJsonContext : JsonSerializerContext;
