using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Grains.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class MemoryConversationStoreTests : ConversationStoreContract
{
    private readonly FakeTimeProvider _time = new();

    protected override IConversationStore Create(ConversationOptions options) => new MemoryConversationStore(options, _time);

    protected override Task PassAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Past_its_cap_the_least_recently_changed_conversation_goes_first()
    {
        var store = Create(new ConversationOptions { MaxInMemoryConversations = 2 });
        var prompts = TinyChat.Prompts();
        foreach (var id in new[] { "a", "b", "c" })
        {
            var change = Logs.PlanTurn(Logs.Empty(), prompts, new TurnRequest("r1", "Hello."), "Hi!");
            Assert.Equal(CommitOutcome.Committed, (await store.CommitAsync(id, change)).Outcome);
        }

        Assert.Null(await store.LoadAsync("a", Ct));
        Assert.NotNull(await store.LoadAsync("b", Ct));
        Assert.NotNull(await store.LoadAsync("c", Ct));
    }
}
