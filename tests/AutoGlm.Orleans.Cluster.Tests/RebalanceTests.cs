using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Cluster.Tests.Support;
using AutoGlm.Orleans.Grains.Moves;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.TestingHost;

namespace AutoGlm.Orleans.Cluster.Tests;

/// <summary>A silo past its KV high watermark hands idle conversations, with their KV, to the least loaded silo.</summary>
public sealed class RebalanceTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_silo_past_its_watermark_moves_an_idle_conversation_with_its_kv_and_its_next_turn_recomputes_nothing()
    {
        await using var redis = new RedisServer();
        await redis.InitializeAsync();
        var bytesPerToken = 6 * 2 * 4 * 32 * 4L;
        await using var cluster = await TestClusters.StartAsync(2, redis.ConnectionString, Greedy.NewId("rebalance"),
            o => { o.RebalancePeriod = TimeSpan.Zero; o.RebalanceHighWatermark = 0.5; o.RebalanceLowWatermark = 0.3; },
            e => e with { KvBudgetBytes = 800 * bytesPerToken });
        var client = cluster.Conversations();
        var home = cluster.Silos[0];
        var message = string.Join(' ', Enumerable.Repeat("Tell me about the harbour and its boats.", 14));

        // Ballast on the other silo (KV no conversation owns) steers placement: the director picks the silo with most free KV.
        var otherEngine = cluster.GetSiloServiceProvider(cluster.Silos[1].SiloAddress).GetRequiredService<InferenceEngine>();
        const int Ballast = 460;
        Assert.True(otherEngine.TryImportKv("ballast", new KvSnapshot(otherEngine.KvDescriptor, Enumerable.Repeat(100, Ballast).ToArray(),
            new byte[Ballast * bytesPerToken])));

        // Three conversations of ~150 tokens on the first silo: 56% of its budget, past the 50% watermark.
        var ids = new List<string>();
        for (var i = 0; ids.Count < 3; i++)
        {
            Assert.True(i < 40, "no three conversations were placed on the first silo");
            var id = Greedy.NewId("heavy");
            var reply = await client.SendAsync(id, message, Greedy.Tokens(16), cancellationToken: Ct);
            if (reply.Silo == home.SiloAddress.ToString())
            {
                ids.Add(id);
            }
            else
            {
                await client.DeleteAsync(id);
            }
        }

        Assert.True(otherEngine.Pool.TryGet("ballast", out var ballast));
        ballast!.Dispose();
        var history = new Dictionary<string, int>();
        foreach (var id in ids)
        {
            history[id] = (await client.GetStatusAsync(id)).HistoryTokens;
        }

        var rebalancer = cluster.GetSiloServiceProvider(home.SiloAddress).GetServices<IHostedService>().OfType<KvRebalancer>().Single();
        var moved = await rebalancer.RoundAsync(Ct);
        Assert.Equal(1, moved);

        var away = new List<string>();
        foreach (var id in ids)
        {
            var reply = await client.SendAsync(id, "And then?", Greedy.Tokens(4), cancellationToken: Ct);
            if (reply.Silo != home.SiloAddress.ToString())
            {
                away.Add(id);
                Assert.True(reply.Usage.CachedTokens >= 0.9 * history[id], $"{reply.Usage.CachedTokens} cached of {history[id]} after the move");
                Assert.Equal(0, reply.Usage.RecomputedTokens);
            }
        }

        Assert.Single(away);
        // Under the watermark now (and the other silo would end past its low watermark): the next round moves nothing.
        Assert.Equal(0, await rebalancer.RoundAsync(Ct));
    }
}
