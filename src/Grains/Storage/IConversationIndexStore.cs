namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>
/// The affinity index for stateless clients (the OpenAI API): a key (a hash of a message list) names the
/// conversation whose stored history is exactly that list. An entry is handed out once: <see cref="TryClaimAsync"/>
/// removes it, so two requests that share a history never continue the same conversation. Entries expire with
/// the conversations' idle TTL.
/// </summary>
public interface IConversationIndexStore
{
    /// <summary>Takes the entry if it names a conversation of <paramref name="messageCount"/> messages; null otherwise.</summary>
    Task<string?> TryClaimAsync(string key, int messageCount, CancellationToken cancellationToken);

    /// <summary>Records that <paramref name="conversationId"/> holds the list <paramref name="key"/> hashes.</summary>
    Task PutAsync(string key, string conversationId, int messageCount, CancellationToken cancellationToken);
}
