using System.Collections.Frozen;

namespace AutoGlm.Orleans.Grains.Tenancy;

/// <summary>
/// The keys this silo accepts, swapped whole when the keys file changes (readers never see half a file). Without a
/// keys file the store is disabled: the API is open and everything runs as <see cref="Abstractions.ConversationKeys.DefaultTenant"/>.
/// Thread-safe.
/// </summary>
public sealed class ApiKeyStore
{
    private volatile FrozenDictionary<string, ApiKeyEntry>? _byHash;

    /// <summary>True once keys were loaded: every API call must then present one.</summary>
    public bool IsEnabled => _byHash is not null;

    public int Count => _byHash?.Count ?? 0;

    public void Replace(IReadOnlyList<ApiKeyEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        _byHash = entries.ToFrozenDictionary(e => e.KeySha256, StringComparer.Ordinal);
    }

    /// <summary>The entry of a presented key (compared by its SHA-256); false for an unknown key or a disabled store.</summary>
    public bool TryFind(string? presentedKey, out ApiKeyEntry entry)
    {
        entry = null!;
        var keys = _byHash;
        if (keys is null || string.IsNullOrEmpty(presentedKey) || presentedKey.Length > 512)
        {
            return false;
        }

        return keys.TryGetValue(ApiKeysFile.Hash(presentedKey), out entry!);
    }
}
