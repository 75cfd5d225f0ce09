using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>
/// A response id names its turn: "resp_" + base64url(conversation id, 0x1F, request id), so resolving it needs no
/// index and a continuation goes straight to its conversation's grain. It names nothing outside its tenant: the
/// grain key is the caller's tenant's, so another tenant's id resolves to nothing (404, as an unknown one).
/// </summary>
public static class ResponseIds
{
    private const string Prefix = "resp_";
    private const char Separator = '\u001f';

    public static string For(string conversationId, string requestId) =>
        Prefix + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(conversationId + Separator + requestId));

    /// <summary>The (conversation, request id) an id names; false for anything that is not one of ours.</summary>
    public static bool TryParse(string? id, out string conversationId, out string requestId)
    {
        conversationId = requestId = string.Empty;
        if (id is null || !id.StartsWith(Prefix, StringComparison.Ordinal) || id.Length > 1024)
        {
            return false;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(id.AsSpan(Prefix.Length)));
            var at = text.IndexOf(Separator, StringComparison.Ordinal);
            if (at <= 0 || at == text.Length - 1)
            {
                return false;
            }

            (conversationId, requestId) = (text[..at], text[(at + 1)..]);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>A new conversation's id: derived from the request's idempotency key when there is one, so a retry lands on it again.</summary>
    public static string NewConversation(string? idempotencyKey) =>
        idempotencyKey is null ? "conv_" + Guid.NewGuid().ToString("N") : "conv_" + Hash(idempotencyKey);

    /// <summary>A fork's id: one per (parent, request), so a retried fork finds the fork it made.</summary>
    public static string Fork(string parentConversationId, string requestId) => "conv_" + Hash(parentConversationId + Separator + requestId);

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)).AsSpan(0, 16));
}
