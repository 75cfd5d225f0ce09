using AutoGlm.Orleans.Fault.Tests.Support;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>
/// The conversations Redis holds, by tenant: one header hash each, "autoglm:{service}:c:{tenant/id}:h"
/// (src/Grains/Storage/RedisKeys.cs; the grain key "tenant/id" is the hash tag), and the keys of any pattern.
/// </summary>
public static class StoredConversations
{
    public const string HeaderPattern = "autoglm:*:c:*:h";

    /// <summary>The affinity index: an entry per stored history a stateless client may continue, "autoglm:{service}:i:{hash}".</summary>
    public const string IndexPattern = "autoglm:*:i:*";

    public static async Task<int> CountAsync(RedisProcess redis, string pattern)
    {
        ArgumentNullException.ThrowIfNull(redis);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var count = 0;
        await foreach (var _ in connection.GetServer("127.0.0.1", redis.Port).KeysAsync(pattern: pattern, pageSize: 1000))
        {
            count++;
        }

        return count;
    }

    public static async Task<IReadOnlyDictionary<string, int>> CountByTenantAsync(RedisProcess redis)
    {
        ArgumentNullException.ThrowIfNull(redis);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var server = connection.GetServer("127.0.0.1", redis.Port);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        await foreach (var key in server.KeysAsync(pattern: HeaderPattern, pageSize: 1000))
        {
            var name = key.ToString();
            var tag = name.IndexOf(":c:{", StringComparison.Ordinal) + 4;
            var slash = name.IndexOf('/', tag);
            var tenant = slash > tag ? name[tag..slash] : "(not namespaced)";
            counts[tenant] = counts.GetValueOrDefault(tenant) + 1;
        }

        return counts;
    }
}
