using System.Globalization;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>Index entries as Redis strings "count|conversation id", claimed by a script (get, compare, delete in one step).</summary>
public sealed class RedisConversationIndexStore(IConnectionMultiplexer redis, RedisKeys keys, ConversationOptions options)
    : IConversationIndexStore
{
    public async Task<string?> TryClaimAsync(string key, int messageCount, CancellationToken cancellationToken)
    {
        var result = await RedisCalls.RunAsync(() => redis.GetDatabase().ScriptEvaluateAsync(RedisScripts.Claim,
            [keys.IndexEntry(key)], [messageCount.ToString(CultureInfo.InvariantCulture)]), cancellationToken);
        return result.IsNull ? null : (string?)result;
    }

    public Task PutAsync(string key, string conversationId, int messageCount, CancellationToken cancellationToken) =>
        RedisCalls.RunAsync(() => redis.GetDatabase().StringSetAsync(keys.IndexEntry(key),
            $"{messageCount.ToString(CultureInfo.InvariantCulture)}|{conversationId}",
            options.IdleTtl > TimeSpan.Zero ? new Expiration(options.IdleTtl) : Expiration.Default), cancellationToken);
}
