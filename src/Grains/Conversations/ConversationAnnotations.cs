namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// What the OpenAI-shaped APIs keep beside the messages: a Conversation's metadata (OpenAI's bounds: 16 pairs, keys
/// of 64 and values of 512 characters) and the responses deleted from it (their ids no longer resolve; their text
/// stays in the history the later turns were generated from). Written only when it changes.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.conversation-annotations.v1")]
public sealed record ConversationAnnotations
{
    public const int MaxMetadataPairs = 16;
    public const int MaxMetadataKeyLength = 64;
    public const int MaxMetadataValueLength = 512;
    public const int MaxDeletedResponses = 4096;

    public static ConversationAnnotations None { get; } = new();

    [Id(0)] public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Request ids of the turns whose responses were deleted.</summary>
    [Id(1)] public IReadOnlyList<string> DeletedResponses { get; init; } = [];
}
