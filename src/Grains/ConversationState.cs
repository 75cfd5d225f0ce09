using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// What a conversation persists in the "conversations" storage: the system prompt and every message with the
/// exact token ids the model saw, the default options, and the request ids already applied (bounded).
/// </summary>
[GenerateSerializer]
[Alias("autoglm.conversation-state.v1")]
public sealed class ConversationState
{
    [Id(0)] public string? SystemPrompt { get; set; }

    /// <summary>Token ids of the rendered system message (empty without a system prompt).</summary>
    [Id(1)] public List<int> SystemTokenIds { get; set; } = [];

    [Id(2)] public List<ConversationMessage> Messages { get; set; } = [];

    [Id(3)] public GenerationOptions? DefaultOptions { get; set; }

    /// <summary>Request ids already applied, oldest first, with a send's stored reply.</summary>
    [Id(4)] public List<AppliedRequest> Applied { get; set; } = [];

    /// <summary>History tokens whose KV the engine held after the last turn: what the next turn should reuse.</summary>
    [Id(5)] public int HistoryKvTokens { get; set; }

    /// <summary>Turns ever committed (not reset by <see cref="IConversationGrain.Reset"/>).</summary>
    [Id(6)] public long Turns { get; set; }

    /// <summary>The silo that generated the last turn (informational: placement asks the silos themselves).</summary>
    [Id(7)] public string? LastSilo { get; set; }
}

/// <summary>One applied request id; a send keeps its reply so a retry returns it.</summary>
[GenerateSerializer]
[Alias("autoglm.applied-request.v1")]
public sealed record AppliedRequest
{
    [Id(0)] public string RequestId { get; init; } = string.Empty;
    [Id(1)] public string Operation { get; init; } = string.Empty;
    [Id(2)] public ConversationReply? Reply { get; init; }
}
