namespace AutoGlm.Orleans.Abstractions;

/// <summary>
/// One entry of the cluster-wide index that lets stateless clients (the OpenAI API) continue a conversation: the
/// key is a hash of a message list (roles and contents, system prompt included), the value the conversation whose
/// stored history is exactly that list. An entry is handed out once (<see cref="TryClaim"/> removes it), so two
/// requests that share a prefix never continue the same conversation: the second one forks into a new one.
/// </summary>
[Alias("autoglm.conversation-index.v1")]
public interface IConversationIndexGrain : IGrainWithStringKey
{
    /// <summary>
    /// Takes the entry if it names a conversation of <paramref name="messageCount"/> stored messages (system prompt
    /// included), and removes it; null when there is none (or it was already claimed).
    /// </summary>
    [Alias("try-claim")]
    Task<string?> TryClaim(int messageCount);

    /// <summary>Records that <paramref name="conversationId"/> now holds the list this entry's key hashes.</summary>
    [Alias("put")]
    Task Put(string conversationId, int messageCount);
}
