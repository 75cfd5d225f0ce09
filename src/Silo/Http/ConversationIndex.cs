using System.Security.Cryptography;
using System.Text;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Storage;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// The affinity index for stateless clients: a message list (roles and contents, system prompt first) hashes to
/// an entry of the <see cref="IConversationIndexStore"/> naming the conversation whose stored history is exactly that list.
/// </summary>
public sealed class ConversationIndex(IConversationIndexStore store)
{
    /// <summary>SHA-256 of the list, each field length-prefixed so no two lists share an encoding.</summary>
    public static string Key(IEnumerable<ConversationMessage> messages)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[4];
        foreach (var message in messages)
        {
            var content = Encoding.UTF8.GetBytes(message.Content);
            length[0] = (byte)message.Role;
            hash.AppendData(length[..1]);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, content.Length);
            hash.AppendData(length);
            hash.AppendData(content);
        }

        return "v1:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Takes the conversation holding exactly <paramref name="history"/>, if one is indexed and unclaimed.</summary>
    public Task<string?> TryClaimAsync(IReadOnlyList<ConversationMessage> history, CancellationToken cancellationToken) =>
        store.TryClaimAsync(Key(history), history.Count, cancellationToken);

    /// <summary>Records that <paramref name="conversationId"/> holds exactly <paramref name="history"/>.</summary>
    public Task PutAsync(IReadOnlyList<ConversationMessage> history, string conversationId, CancellationToken cancellationToken) =>
        store.PutAsync(Key(history), conversationId, history.Count, cancellationToken);

    /// <summary>Whether a stored history (system prompt included) equals a request's list, by role and content.</summary>
    public static bool SameHistory(IReadOnlyList<ConversationMessage> stored, IReadOnlyList<ConversationMessage> requested) =>
        stored.Count == requested.Count
        && stored.Zip(requested).All(p => p.First.Role == p.Second.Role && string.Equals(p.First.Content, p.Second.Content, StringComparison.Ordinal));
}
