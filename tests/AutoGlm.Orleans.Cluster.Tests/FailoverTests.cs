using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Cluster.Tests.Support;
using Orleans.TestingHost;

namespace AutoGlm.Orleans.Cluster.Tests;

public sealed class FailoverTests(RedisServer redis)
{
    [Fact]
    public async Task Killing_the_silo_of_a_conversation_moves_it_with_its_history_and_counts_the_recompute()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TestClusters.StartAsync(3, redis.ConnectionString, "failover-" + Guid.NewGuid().ToString("N"));
        var client = cluster.Conversations();
        var (id, silo) = await ConversationAwayFromFirstSiloAsync(cluster, client, "failover", ct);
        var second = await client.SendAsync(id, "Second turn.", Greedy.Tokens(6), cancellationToken: ct);
        Assert.Equal(silo.SiloAddress.ToString(), second.Silo);
        var before = await client.GetHistoryAsync(id);
        Assert.Equal(4, before.Count);

        await cluster.KillSiloAsync(silo, ct);
        var third = await client.SendAsync(id, "Third turn, after the crash.", Greedy.Tokens(6), cancellationToken: ct);

        Assert.NotEqual(silo.SiloAddress.ToString(), third.Silo);
        Assert.Equal(0, third.Usage.CachedTokens);
        Assert.Equal(Greedy.HeldAfter(second), third.Usage.RecomputedTokens);
        var after = await client.GetHistoryAsync(id);
        Assert.Equal(6, after.Count);
        Assert.Equal(before.Select(m => (m.Role, m.Content, string.Join(',', m.TokenIds))),
            after.Take(4).Select(m => (m.Role, m.Content, string.Join(',', m.TokenIds))));
        var history = before.Sum(m => m.TokenIds.Count);
        Assert.True(third.Usage.PromptTokens > history);

        // The next turn reuses the KV rebuilt on the new silo.
        var fourth = await client.SendAsync(id, "Fourth turn.", Greedy.Tokens(6), cancellationToken: ct);
        Assert.Equal(third.Silo, fourth.Silo);
        Assert.Equal(0, fourth.Usage.RecomputedTokens);
        Assert.True(fourth.Usage.CachedTokens >= third.Usage.PromptTokens);
    }

    [Fact]
    public async Task A_reply_cut_by_its_silo_death_is_not_stored_and_the_client_retries_it_once()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var cluster = await TestClusters.StartAsync(3, redis.ConnectionString, "midstream-" + Guid.NewGuid().ToString("N"));
        var client = cluster.Conversations();
        client.RetryDelay = TimeSpan.FromSeconds(4);
        var (id, silo) = await ConversationAwayFromFirstSiloAsync(cluster, client, "midstream", ct);

        var chunks = new List<ReplyChunk>();
        var killed = false;
        await foreach (var chunk in client.SendStreamingAsync(id, "A long answer, please.",
            Greedy.Tokens(400) with { IgnoreEndOfTurn = true }, "cut-1", ct))
        {
            chunks.Add(chunk);
            if (!killed)
            {
                killed = true;
                await cluster.KillSiloAsync(silo, ct);
            }
        }

        var final = chunks[^1];
        Assert.True(final.IsFinal);
        Assert.Contains(chunks, c => c.Restarted);
        Assert.NotEqual(silo.SiloAddress.ToString(), final.Silo);
        var history = await client.GetHistoryAsync(id);
        Assert.Equal(4, history.Count);
        Assert.Equal("A long answer, please.", history[2].Content);
        var restart = chunks.FindIndex(c => c.Restarted);
        Assert.Equal(string.Concat(chunks.Skip(restart).Select(c => c.Text)), history[3].Content);
    }

    private static async Task<(string Id, InProcessSiloHandle Silo)> ConversationAwayFromFirstSiloAsync(InProcessTestCluster cluster,
        ConversationClient client, string prefix, CancellationToken ct)
    {
        for (var i = 0; i < 20; i++)
        {
            var id = Greedy.NewId(prefix);
            var reply = await client.SendAsync(id, "First turn.", Greedy.Tokens(6), cancellationToken: ct);
            var silo = cluster.Silos.Single(s => s.SiloAddress.ToString() == reply.Silo);
            if (silo != cluster.Silos[0])
            {
                return (id, silo);
            }
        }

        throw new InvalidOperationException("no conversation was placed away from the first silo");
    }
}
