using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>
/// Key names: "{prefix}:{service}:c:{id}:h|m|k|o" for a conversation, "{prefix}:{service}:i:{hash}" for an index
/// entry. The id sits in a hash tag ({…}) so a conversation's keys share a Redis Cluster slot and one script can
/// touch them all; braces and percent signs in ids are escaped so a tag never ends early.
/// </summary>
public sealed class RedisKeys(string prefix, string serviceId)
{
    private readonly string _root = $"{prefix}:{serviceId}:";

    public RedisKey[] Conversation(string conversationId)
    {
        var tag = $"{_root}c:{{{Escape(conversationId)}}}:";
        return [tag + "h", tag + "m", tag + "k", tag + "o"];
    }

    public RedisKey IndexEntry(string key) => $"{_root}i:{key}";

    private static string Escape(string id) =>
        id.IndexOfAny(['{', '}', '%']) < 0 ? id : id.Replace("%", "%25", StringComparison.Ordinal)
            .Replace("{", "%7B", StringComparison.Ordinal).Replace("}", "%7D", StringComparison.Ordinal);
}
