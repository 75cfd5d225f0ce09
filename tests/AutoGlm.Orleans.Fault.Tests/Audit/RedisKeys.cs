using StackExchange.Redis;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>
/// Every key in Redis (SCAN), split into persistent keys and keys with a TTL (which may expire by themselves, leases
/// say), DBSIZE, and the serialized value (DUMP) of the keys that belong to some conversations.
/// </summary>
public sealed record RedisKeys(IReadOnlySet<string> Persistent, IReadOnlySet<string> Volatile, long DbSize, IReadOnlyDictionary<string, byte[]> Watched)
{
    public IEnumerable<string> All => Persistent.Concat(Volatile);

    /// <summary>Reads the keys; <paramref name="conversations"/> name the conversations whose keys' values are kept.</summary>
    public static async Task<RedisKeys> ReadAsync(IServer server, IDatabase database, IReadOnlyCollection<string> conversations)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(conversations);
        var persistent = new HashSet<string>(StringComparer.Ordinal);
        var withTtl = new HashSet<string>(StringComparer.Ordinal);
        var watched = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        await foreach (var key in server.KeysAsync(pattern: "*", pageSize: 1000))
        {
            var name = key.ToString();
            (await database.KeyTimeToLiveAsync(key) is null ? persistent : withTtl).Add(name);
            // A conversation's keys name it as "{tenant/id}" (the store's hash tag).
            if (conversations.Any(c => name.Contains("/" + c + "}", StringComparison.Ordinal)))
            {
                watched[name] = await database.KeyDumpAsync(key) ?? [];
            }
        }

        return new RedisKeys(persistent, withTtl, await server.DatabaseSizeAsync(), watched);
    }
}
