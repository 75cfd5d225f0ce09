namespace AutoGlm.Orleans.Grains.Tenancy;

/// <summary>
/// One API key of the keys file: the tenant it authenticates, its limits (null: unlimited), whether it may use the
/// operator routes, and an optional server-side cache salt (vLLM's cache_salt: keys with different salts never
/// share cached prefixes, even within a tenant). Only the key's SHA-256 is kept.
/// </summary>
public sealed record ApiKeyEntry
{
    public required string Tenant { get; init; }

    /// <summary>Lower-case hex SHA-256 of the key's UTF-8 bytes.</summary>
    public required string KeySha256 { get; init; }

    public int? RequestsPerMinute { get; init; }

    public int? TokensPerMinute { get; init; }

    public int? MaxConcurrentTurns { get; init; }

    public bool Admin { get; init; }

    public string? CacheSalt { get; init; }

    /// <summary>The tenant and salt whose conversations may share cached prefixes (the affinity index's scope).</summary>
    public string CacheScope => CacheSalt is null ? Tenant : $"{Tenant}\u0000{CacheSalt}";
}
