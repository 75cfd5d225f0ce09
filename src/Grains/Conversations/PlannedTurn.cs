using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>A turn checked and assembled before it runs: what the engine gets and what the commit will store.</summary>
public sealed record PlannedTurn(
    string RequestId,
    ulong Fingerprint,
    TurnSeed? Seed,
    ChatMessage User,
    int[] UserIds,
    string GenerationPrompt,
    int[] GenerationPromptIds,
    int HistoryTokens,
    Engine.EngineWork Work)
{
    /// <summary>Where the model's view starts after this turn, when it moves (truncation "auto"); null: where it was.</summary>
    public TurnWindow? Window { get; init; }

    /// <summary>Stored message tokens this turn's prompt leaves out.</summary>
    public int TruncatedTokens { get; init; }

    /// <summary>Answer without committing (store: false).</summary>
    public bool Ephemeral { get; init; }

    /// <summary>Input items stored before the user message (rendered after the history).</summary>
    public IReadOnlyList<ConversationMessage> Items { get; init; } = [];
}
