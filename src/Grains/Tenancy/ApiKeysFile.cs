using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Tenancy;

/// <summary>
/// Reads a keys file: <c>{"keys": [{"tenant": "acme", "key_sha256": "&lt;hex&gt;", "requests_per_minute": 600,
/// "tokens_per_minute": 200000, "max_concurrent_turns": 32, "admin": false, "cache_salt": null}]}</c>. A plain
/// <c>"key"</c> instead of <c>"key_sha256"</c> is accepted for development (it is hashed at once, never kept). Every
/// mistake is an <see cref="InvalidDataException"/> naming the entry, so a bad file never half-loads.
/// </summary>
public static partial class ApiKeysFile
{
    private const int MaxTenantLength = 64;

    public static IReadOnlyList<ApiKeyEntry> Parse(string json)
    {
        KeysDocument? document;
        try
        {
            document = JsonSerializer.Deserialize(json, KeysJsonContext.Default.KeysDocument);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"the keys file is not valid JSON: {ex.Message}");
        }

        if (document?.Keys is not { } keys)
        {
            throw new InvalidDataException("the keys file has no \"keys\" array");
        }

        var entries = new List<ApiKeyEntry>(keys.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < keys.Count; i++)
        {
            var key = keys[i] ?? throw new InvalidDataException($"keys[{i}] is null");
            var tenant = key.Tenant;
            if (tenant is null || tenant.Length is 0 or > MaxTenantLength || !TenantName().IsMatch(tenant))
            {
                throw new InvalidDataException($"keys[{i}].tenant must be 1 to {MaxTenantLength} of A-Z a-z 0-9 . _ - (starting with a letter or digit)");
            }

            var hash = (key.KeySha256, key.Key) switch
            {
                ({ } sha, null) when Sha256Hex().IsMatch(sha) => sha.ToLowerInvariant(),
                (null, { Length: >= 16 } plain) => Hash(plain),
                (null, { } _) => throw new InvalidDataException($"keys[{i}].key must have at least 16 characters"),
                (null, null) => throw new InvalidDataException($"keys[{i}] needs \"key_sha256\" (64 hex digits) or \"key\""),
                _ => throw new InvalidDataException($"keys[{i}] needs exactly one of \"key_sha256\" (64 hex digits) and \"key\""),
            };
            if (!seen.Add(hash))
            {
                throw new InvalidDataException($"keys[{i}] repeats a key listed before it");
            }

            entries.Add(new ApiKeyEntry
            {
                Tenant = tenant,
                KeySha256 = hash,
                RequestsPerMinute = Positive(key.RequestsPerMinute, i, "requests_per_minute"),
                TokensPerMinute = Positive(key.TokensPerMinute, i, "tokens_per_minute"),
                MaxConcurrentTurns = Positive(key.MaxConcurrentTurns, i, "max_concurrent_turns"),
                Admin = key.Admin ?? false,
                CacheSalt = string.IsNullOrEmpty(key.CacheSalt) ? null : key.CacheSalt,
            });
        }

        return entries;
    }

    /// <summary>Lower-case hex SHA-256 of a key's UTF-8 bytes: what the keys file stores, and what a presented key is compared by.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static int? Positive(int? value, int index, string name) =>
        value is <= 0 ? throw new InvalidDataException($"keys[{index}].{name} must be positive (omit it for no limit)") : value;

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial System.Text.RegularExpressions.Regex TenantName();

    [System.Text.RegularExpressions.GeneratedRegex("^[0-9A-Fa-f]{64}$")]
    private static partial System.Text.RegularExpressions.Regex Sha256Hex();

    internal sealed class KeysDocument
    {
        public List<KeyDocument?>? Keys { get; set; }
    }

    internal sealed class KeyDocument
    {
        public string? Tenant { get; set; }
        public string? KeySha256 { get; set; }
        public string? Key { get; set; }
        public int? RequestsPerMinute { get; set; }
        public int? TokensPerMinute { get; set; }
        public int? MaxConcurrentTurns { get; set; }
        public bool? Admin { get; set; }
        public string? CacheSalt { get; set; }
    }

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
    [JsonSerializable(typeof(KeysDocument))]
    internal sealed partial class KeysJsonContext : JsonSerializerContext;
}
