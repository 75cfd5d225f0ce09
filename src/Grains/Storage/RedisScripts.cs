namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>
/// The conversation store's Lua scripts. Each runs atomically in Redis, so a commit's version check, its append,
/// its idempotency record and its expiry are one step: no reader ever sees half a change.
/// Keys: 1 header hash, 2 message list, 3 request-id hash, 4 request-id order (sorted by version).
/// </summary>
internal static class RedisScripts
{
    /// <summary>
    /// ARGV: 1 expected incarnation, 2 expected version, 3 new incarnation, 4 new version, 5 clear messages (0/1),
    /// 6 ttl in ms (0: none), 7 max request ids, 8 request id, 9 applied record, 10 header field count, then that
    /// many field/value pairs, then the messages to append. Returns {1} committed, {0} conflict, {2} applied already.
    /// </summary>
    public const string Commit = """
        local inc = redis.call('HGET', KEYS[1], 'inc')
        local ver = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
        local expected = ARGV[2] == '0' and (not inc) or (inc == ARGV[1] and ver == tonumber(ARGV[2]))
        if not expected then
          if inc and redis.call('HEXISTS', KEYS[3], ARGV[8]) == 1 then return {2} end
          return {0}
        end
        if redis.call('HEXISTS', KEYS[3], ARGV[8]) == 1 then return {2} end
        if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end
        local fields = {'inc', ARGV[3], 'v', ARGV[4]}
        local i = 11
        for _ = 1, tonumber(ARGV[10]) do
          fields[#fields + 1] = ARGV[i]
          fields[#fields + 1] = ARGV[i + 1]
          i = i + 2
        end
        redis.call('HSET', KEYS[1], unpack(fields))
        while i <= #ARGV do
          local last = math.min(i + 999, #ARGV)
          redis.call('RPUSH', KEYS[2], unpack(ARGV, i, last))
          i = last + 1
        end
        redis.call('HSET', KEYS[3], ARGV[8], ARGV[9])
        redis.call('ZADD', KEYS[4], ARGV[4], ARGV[8])
        local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[7])
        if over > 0 then
          local old = redis.call('ZRANGE', KEYS[4], 0, over - 1)
          redis.call('ZREMRANGEBYRANK', KEYS[4], 0, over - 1)
          redis.call('HDEL', KEYS[3], unpack(old))
        end
        local ttl = tonumber(ARGV[6])
        for _, key in ipairs(KEYS) do
          if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
        end
        return {1}
        """;

    /// <summary>A consistent snapshot: {header fields, messages, request ids}; empty when nothing is stored.</summary>
    public const string Load = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
        return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1), redis.call('HGETALL', KEYS[3])}
        """;

    /// <summary>
    /// The affinity index: KEYS[1] holds "count|conversation id". Takes it when the count matches (and removes it, so
    /// one request only gets it). ARGV[1] the expected count.
    /// </summary>
    public const string Claim = """
        local value = redis.call('GET', KEYS[1])
        if not value then return false end
        local bar = string.find(value, '|', 1, true)
        if (not bar) or string.sub(value, 1, bar - 1) ~= ARGV[1] then return false end
        redis.call('DEL', KEYS[1])
        return string.sub(value, bar + 1)
        """;
}
