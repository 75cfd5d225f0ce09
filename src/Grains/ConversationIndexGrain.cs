using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// One index entry (key: the hash of a message list), persisted in the conversations' storage so every silo sees
/// it. Non-reentrant: a claim and a put never interleave, so an entry is handed to one request only.
/// </summary>
public sealed class ConversationIndexGrain(
    [PersistentState("entry", ConversationGrain.StorageName)] IPersistentState<ConversationIndexEntry> entry)
    : Grain, IConversationIndexGrain
{
    public async Task<string?> TryClaim(int messageCount)
    {
        if (entry.State.ConversationId is not { } id || entry.State.MessageCount != messageCount)
        {
            return null;
        }

        await entry.ClearStateAsync();
        entry.State = new ConversationIndexEntry();
        return id;
    }

    public async Task Put(string conversationId, int messageCount)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(conversationId);
        entry.State.ConversationId = conversationId;
        entry.State.MessageCount = messageCount;
        await entry.WriteStateAsync();
    }
}

/// <summary>The persisted value of an index entry.</summary>
[GenerateSerializer]
[Alias("autoglm.conversation-index-entry.v1")]
public sealed class ConversationIndexEntry
{
    [Id(0)] public string? ConversationId { get; set; }

    [Id(1)] public int MessageCount { get; set; }
}
