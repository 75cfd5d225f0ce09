using AutoGlm.Orleans.Cluster.Tests.Support;

namespace AutoGlm.Orleans.Cluster.Tests;

public sealed class PersistenceTests(RedisServer redis)
{
    [Fact]
    public async Task A_new_cluster_over_the_same_Redis_resumes_every_conversation_with_its_full_history()
    {
        var ct = TestContext.Current.CancellationToken;
        var serviceId = "persist-" + Guid.NewGuid().ToString("N");
        var ids = Enumerable.Range(0, 6).Select(i => Greedy.NewId($"persist{i}")).ToArray();
        var histories = new Dictionary<string, string[]>();
        var held = new Dictionary<string, int>();

        await using (var first = await TestClusters.StartAsync(2, redis.ConnectionString, serviceId))
        {
            var client = first.Conversations();
            foreach (var id in ids)
            {
                await client.SetSystemPromptAsync(id, "You remember everything.");
                await client.SendAsync(id, $"My name is {id}.", Greedy.Tokens(5), cancellationToken: ct);
                var last = await client.SendAsync(id, "What is my name?", Greedy.Tokens(5), cancellationToken: ct);
                held[id] = Greedy.HeldAfter(last);
                histories[id] = [.. (await client.GetHistoryAsync(id)).Select(m => $"{m.Role}|{m.Content}|{string.Join(',', m.TokenIds)}")];
            }

            await first.StopAllSilosAsync(ct);
        }

        await using var second = await TestClusters.StartAsync(2, redis.ConnectionString, serviceId);
        var resumed = second.Conversations();
        foreach (var id in ids)
        {
            var history = (await resumed.GetHistoryAsync(id)).Select(m => $"{m.Role}|{m.Content}|{string.Join(',', m.TokenIds)}").ToArray();
            Assert.Equal(histories[id], history);
            Assert.Equal(5, history.Length);

            var reply = await resumed.SendAsync(id, "Still there?", Greedy.Tokens(5), cancellationToken: ct);
            Assert.Equal(0, reply.Usage.CachedTokens);
            Assert.Equal(held[id], reply.Usage.RecomputedTokens);
            Assert.Equal(7, (await resumed.GetHistoryAsync(id)).Count);
        }
    }
}
