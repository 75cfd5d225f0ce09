using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Grains.Tests.Support;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class RedisConversationStoreTests(RedisServer redis) : ConversationStoreContract, IDisposable
{
    private readonly IConnectionMultiplexer _connection = Stores.Connect(redis);
    private readonly RedisKeys _keys = Stores.NewKeys();

    protected override IConversationStore Create(ConversationOptions options) =>
        new RedisConversationStore(_connection, Stores.Serializer, _keys, options);

    protected override Task PassAsync(TimeSpan time) => Task.Delay(time, Ct);

    /// <summary>Each turn appends its messages and rewrites a fixed-size header: turn 50 writes what turn 1 did.</summary>
    [Fact]
    public async Task The_bytes_a_turn_writes_do_not_grow_with_the_conversation()
    {
        var store = Create(new ConversationOptions());
        var prompts = TinyChat.Prompts();
        var log = Logs.Empty();
        var written = new List<long>();
        for (var turn = 1; turn <= 50; turn++)
        {
            var change = Logs.PlanTurn(log, prompts, new TurnRequest($"request-{turn:D3}", "Tell me about the weather today."), "It is sunny and warm.");
            written.Add((await CommitAsync(store, log, change)).BytesWritten);
        }

        TestContext.Current.SendDiagnosticMessage($"bytes written per turn: turn 1 {written[0]}, turn 2 {written[1]}, turn 50 {written[^1]}");
        // Turn 1 has no incarnation to check yet (32 bytes less); from turn 2 on only counters' digits may grow.
        Assert.InRange(written[0], written[1] - 40, written[1]);
        Assert.InRange(written[^1], written[1], written[1] + 8);
        Assert.Equal(100, (await store.LoadAsync("c1", Ct))!.Messages.Count);
    }

    [Fact]
    public async Task Every_key_of_a_conversation_carries_the_idle_ttl()
    {
        var store = Create(new ConversationOptions { IdleTtl = TimeSpan.FromHours(1) });
        var log = Logs.Empty();
        await CommitAsync(store, log, Logs.PlanTurn(log, TinyChat.Prompts(), new TurnRequest("r1", "Hello."), "Hi!"));
        var db = _connection.GetDatabase();
        foreach (var key in _keys.Conversation("c1"))
        {
            var ttl = await db.KeyTimeToLiveAsync(key);
            Assert.NotNull(ttl);
            Assert.InRange(ttl.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        }
    }

    [Fact]
    public async Task A_store_that_cannot_reach_redis_fails_with_the_typed_error()
    {
        using var nowhere = ConnectionMultiplexer.Connect(RedisConnections.Options("127.0.0.1:1,connectTimeout=200,asyncTimeout=300"));
        var store = new RedisConversationStore(nowhere, Stores.Serializer, _keys, new ConversationOptions());
        await Assert.ThrowsAsync<StorageUnavailableException>(() => store.LoadAsync("c1", Ct));
        var log = Logs.Empty();
        await Assert.ThrowsAsync<StorageUnavailableException>(() =>
            store.CommitAsync("c1", Logs.PlanTurn(log, TinyChat.Prompts(), new TurnRequest("r1", "Hello."), "Hi!")));
    }

    public void Dispose() => _connection.Dispose();
}
