using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// One planned change of a conversation, data only: what the store must check (the version it was planned on)
/// and append. <see cref="ConversationLog.Apply"/> swaps it into memory only after the store accepted it.
/// </summary>
public sealed record ConversationChange
{
    public required string RequestId { get; init; }

    public required AppliedChange Applied { get; init; }

    /// <summary>The incarnation the change was planned on; null for a conversation that does not exist yet.</summary>
    public string? ExpectedIncarnation { get; init; }

    /// <summary>The version the change was planned on (0: none stored).</summary>
    public long ExpectedVersion { get; init; }

    public required string Incarnation { get; init; }

    public long Version => ExpectedVersion + 1;

    public required ConversationHeader Header { get; init; }

    /// <summary>Drop the live messages before appending (a reset).</summary>
    public bool ClearMessages { get; init; }

    public IReadOnlyList<ConversationMessage> Appended { get; init; } = [];

    /// <summary>The new system prompt; null leaves it as it is.</summary>
    public SystemPromptRecord? SystemPrompt { get; init; }

    public bool DefaultOptionsChanged { get; init; }

    public GenerationOptions? DefaultOptions { get; init; }

    /// <summary>The new annotations (metadata, deleted responses); null leaves them as they are.</summary>
    public ConversationAnnotations? Annotations { get; init; }
}
