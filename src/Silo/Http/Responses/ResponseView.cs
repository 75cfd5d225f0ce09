using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>What an OpenAI response object says about one turn; written by <see cref="ResponseJson"/>.</summary>
public sealed record ResponseView
{
    public required string Id { get; init; }
    public required string Model { get; init; }
    public required long CreatedAt { get; init; }
    /// <summary>"in_progress", "completed", "incomplete".</summary>
    public string Status { get; init; } = "completed";
    public string Text { get; init; } = string.Empty;
    public ReplyFinishReason? FinishReason { get; init; }
    public TurnUsage? Usage { get; init; }
    public string? PreviousResponseId { get; init; }
    public string? ConversationId { get; init; }
    public string? Instructions { get; init; }
    public int? MaxOutputTokens { get; init; }
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public string Truncation { get; init; } = "disabled";
    public bool Store { get; init; } = true;
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    public string? User { get; init; }

    public string MessageId => "msg_" + Id["resp_".Length..];

    public ResponseView Finished(string text, ReplyFinishReason? reason, TurnUsage? usage) => this with
    {
        Text = text,
        FinishReason = reason,
        Usage = usage,
        Status = reason == ReplyFinishReason.Length ? "incomplete" : "completed",
    };
}
