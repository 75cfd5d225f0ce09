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
    /// <summary>
    /// SHA-256 of the scope (tenant and cache salt) and the list, each field length-prefixed so no two share an
    /// encoding: the same history of two tenants has two keys.
    /// </summary>
    public static string Key(string scope, IEnumerable<ConversationMessage> messages)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[4];
        var scopeBytes = Encoding.UTF8.GetBytes(scope);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, scopeBytes.Length);
        hash.AppendData(length);
        hash.AppendData(scopeBytes);
        foreach (var message in messages)
        {
            var content = Encoding.UTF8.GetBytes(message.Content);
            length[0] = (byte)message.Role;
            hash.AppendData(length[..1]);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(length, content.Length);
            hash.AppendData(length);
            hash.AppendData(content);
        }

        return "v2:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Takes the conversation holding exactly <paramref name="history"/>, if one is indexed and unclaimed.</summary>
    public Task<string?> TryClaimAsync(string scope, IReadOnlyList<ConversationMessage> history, CancellationToken cancellationToken) =>
        store.TryClaimAsync(Key(scope, history), history.Count, cancellationToken);

    /// <summary>Records that <paramref name="conversationId"/> holds exactly <paramref name="history"/>.</summary>
    public Task PutAsync(string scope, IReadOnlyList<ConversationMessage> history, string conversationId, CancellationToken cancellationToken) =>
        store.PutAsync(Key(scope, history), conversationId, history.Count, cancellationToken);

    /// <summary>Whether a stored history (system prompt included) equals a request's list, by role and content.</summary>
    public static bool SameHistory(IReadOnlyList<ConversationMessage> stored, IReadOnlyList<ConversationMessage> requested) =>
        stored.Count == requested.Count
        && stored.Zip(requested).All(p => p.First.Role == p.Second.Role && string.Equals(p.First.Content, p.Second.Content, StringComparison.Ordinal));
}
