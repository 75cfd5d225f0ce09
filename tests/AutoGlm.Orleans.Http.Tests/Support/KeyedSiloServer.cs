namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>
/// A second real silo, this one with a keys file (written by the fixture) of several tenants: limits, an admin, a
/// cache salt. The keys are plain here (development form) except globex's, stored as its SHA-256 as in production.
/// </summary>
public sealed class KeyedSiloServer : SiloServer
{
    public const string Acme = "acme-key-0123456789";
    public const string AcmeSalted = "acme-salted-0123456789";
    public const string Globex = "globex-key-0123456789";
    public const string Limited = "limited-key-0123456789";
    public const string Frugal = "frugal-key-0123456789";
    public const string Narrow = "narrow-key-0123456789";
    public const string Admin = "admin-key-0123456789";

    private static readonly string Folder = Directory.CreateTempSubdirectory("autoglm-keys-").FullName;

    public KeyedSiloServer()
        : base(["--api-keys-file", Write()])
    {
    }

    public static string KeysFile => Path.Combine(Folder, "keys.json");

    /// <summary>The keys file as the fixture wrote it; tests that change it put it back.</summary>
    public static string Original { get; } = $$"""
        {"keys": [
          {"tenant": "acme", "key": "{{Acme}}", "requests_per_minute": 600},
          {"tenant": "acme", "key": "{{AcmeSalted}}", "cache_salt": "user-2"},
          {"tenant": "globex", "key_sha256": "{{Grains.Tenancy.ApiKeysFile.Hash(Globex)}}"},
          {"tenant": "limited", "key": "{{Limited}}", "requests_per_minute": 5},
          {"tenant": "frugal", "key": "{{Frugal}}", "tokens_per_minute": 600},
          {"tenant": "narrow", "key": "{{Narrow}}", "max_concurrent_turns": 1},
          {"tenant": "ops", "key": "{{Admin}}", "admin": true}
        ]}
        """;

    public HttpClient As(string key)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(Folder, recursive: true);
    }

    private static string Write()
    {
        File.WriteAllText(KeysFile, Original);
        return KeysFile;
    }
}
