namespace AutoGlm.Orleans.Abstractions;

/// <summary>
/// A conversation's grain key is "{tenant}/{conversation id}": ids are namespaced by their owner, so two tenants'
/// ids never collide and one tenant cannot squat or reach another's. Tenant names never contain '/'.
/// </summary>
public static class ConversationKeys
{
    /// <summary>The tenant of an API without keys (and of a client given none).</summary>
    public const string DefaultTenant = "default";

    public const char Separator = '/';

    public static string For(string tenant, string conversationId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenant);
        ArgumentException.ThrowIfNullOrWhiteSpace(conversationId);
        if (tenant.Contains(Separator, StringComparison.Ordinal))
        {
            throw new ArgumentException($"a tenant name has no '{Separator}'", nameof(tenant));
        }

        return string.Concat(tenant, "/", conversationId);
    }

    /// <summary>The owner named by a grain key ("" when the key is not namespaced).</summary>
    public static string TenantOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var at = key.IndexOf(Separator, StringComparison.Ordinal);
        return at < 0 ? string.Empty : key[..at];
    }

    /// <summary>The conversation id a client knows, without its tenant.</summary>
    public static string IdOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var at = key.IndexOf(Separator, StringComparison.Ordinal);
        return at < 0 ? key : key[(at + 1)..];
    }
}
