using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;
using Orleans.TestingHost;

namespace AutoGlm.Orleans.Cluster.Tests.Support;

/// <summary>Three silos shared by the tests that do not kill or stop silos.</summary>
public sealed class ThreeSiloCluster(RedisServer redis) : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public ConversationClient Conversations => Cluster.Conversations();

    public async ValueTask InitializeAsync() =>
        Cluster = await TestClusters.StartAsync(3, redis.ConnectionString, "three-" + Guid.NewGuid().ToString("N"));

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ThreeSiloCollection : ICollectionFixture<ThreeSiloCluster>
{
    public const string Name = "three silos";
}

internal static class Greedy
{
    public static GenerationOptions Tokens(int maxNewTokens) => new() { Temperature = 0f, MaxNewTokens = maxNewTokens };

    public static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>The KV the engine holds after a turn: the prompt and every reply token it fed back (not the last one on Length).</summary>
    public static int HeldAfter(ConversationReply reply) =>
        reply.Usage.PromptTokens + reply.Usage.CompletionTokens - (reply.FinishReason == ReplyFinishReason.Length ? 1 : 0);
}
