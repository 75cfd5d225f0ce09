using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Grains.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class IndexStoreTests(RedisServer redis)
{
    public static TheoryData<string> Kinds => new("redis", "memory");

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task An_entry_is_handed_out_once_and_only_for_its_message_count(string kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var connection = kind == "redis" ? Stores.Connect(redis) : null;
        IConversationIndexStore index = connection is null
            ? new MemoryConversationIndexStore(new ConversationOptions(), new FakeTimeProvider())
            : new RedisConversationIndexStore(connection, Stores.NewKeys(), new ConversationOptions());
        await index.PutAsync("k1", "conv-1", 3, ct);
        Assert.Null(await index.TryClaimAsync("k1", 4, ct));
        Assert.Equal("conv-1", await index.TryClaimAsync("k1", 3, ct));
        Assert.Null(await index.TryClaimAsync("k1", 3, ct));
        await index.PutAsync("k1", "conv-2", 3, ct);
        await index.PutAsync("k1", "conv-3", 3, ct);
        Assert.Equal("conv-3", await index.TryClaimAsync("k1", 3, ct));
    }

    [Fact]
    public async Task Memory_entries_expire_and_are_capped()
    {
        var ct = TestContext.Current.CancellationToken;
        var time = new FakeTimeProvider();
        var index = new MemoryConversationIndexStore(new ConversationOptions { IdleTtl = TimeSpan.FromMinutes(1), MaxInMemoryConversations = 2 }, time);
        await index.PutAsync("a", "conv-a", 1, ct);
        await index.PutAsync("b", "conv-b", 1, ct);
        await index.PutAsync("c", "conv-c", 1, ct);
        Assert.Null(await index.TryClaimAsync("a", 1, ct));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Null(await index.TryClaimAsync("b", 1, ct));
    }
}
