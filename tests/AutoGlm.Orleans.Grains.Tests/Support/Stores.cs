using AutoGlm.Orleans.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains.Tests.Support;

/// <summary>Real stores for the contract tests: Redis (the test run's redis-server, a fresh key prefix each) or this process's memory.</summary>
internal static class Stores
{
    private static readonly Lazy<Serializer> SerializerInstance = new(() =>
        new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>());

    public static Serializer Serializer => SerializerInstance.Value;

    public static IConnectionMultiplexer Connect(RedisServer redis) =>
        ConnectionMultiplexer.Connect(RedisConnections.Options(redis.ConnectionString));

    public static RedisKeys NewKeys() => new("test", Guid.NewGuid().ToString("N"));
}
