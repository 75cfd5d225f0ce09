using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Grains.Tests.Support;

namespace AutoGlm.Orleans.Grains.Tests;

/// <summary>What every conversation store must do, run against each real store.</summary>
public abstract class ConversationStoreContract
{
    private readonly PromptBuilder _prompts = TinyChat.Prompts();

    protected abstract IConversationStore Create(ConversationOptions options);

    /// <summary>Lets the store's clock (or Redis' own) pass <paramref name="time"/>.</summary>
    protected abstract Task PassAsync(TimeSpan time);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task What_was_committed_loads_back_as_it_was()
    {
        var store = Create(new ConversationOptions());
        var log = Logs.Empty();
        await CommitAsync(store, log, log.PlanSystemPrompt("s1", 5, new SystemPromptRecord { Text = "Be brief.", TokenIds = [1, 2, 3] }, Logs.Now));
        await CommitAsync(store, log, log.PlanDefaultOptions("o1", 6, new GenerationOptions { Temperature = 0.5f, StopSequences = ["x"] }, Logs.Now));
        await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest("r1", "Hello."), "Hi!"));
        await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest("r2", "Again."), "Yes."));

        var stored = await store.LoadAsync("c1", Ct);
        Assert.NotNull(stored);
        var loaded = ConversationLog.From(stored, 256);
        Assert.Equal(log.Incarnation, loaded.Incarnation);
        Assert.Equal(4, loaded.Version);
        Assert.Equal(log.Header, loaded.Header);
        Assert.Equal("Be brief.", loaded.SystemPrompt.Text);
        Assert.Equal([1, 2, 3], loaded.SystemPrompt.TokenIds);
        Assert.Equal(0.5f, loaded.DefaultOptions!.Temperature);
        Assert.Equal(["x"], loaded.DefaultOptions.StopSequences!);
        Assert.Equal(log.Messages.Select(m => (m.Role, m.Content, string.Join(',', m.TokenIds), m.RequestId)),
            loaded.Messages.Select(m => (m.Role, m.Content, string.Join(',', m.TokenIds), m.RequestId)));
        Assert.True(loaded.Applied.TryGet("r2", out var applied));
        Assert.Equal("Yes.", loaded.Replay("r2", applied).Text);
        Assert.Null(await store.LoadAsync("other", Ct));
    }

    [Fact]
    public async Task A_change_planned_on_a_stale_version_is_refused_and_writes_nothing()
    {
        var store = Create(new ConversationOptions());
        var log = Logs.Empty();
        await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest("r1", "Hello."), "Hi!"));
        var stale = ConversationLog.From((await store.LoadAsync("c1", Ct))!, 256);
        await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest("r2", "Second."), "Ok."));

        var conflict = await store.CommitAsync("c1", Logs.PlanTurn(stale, _prompts, new TurnRequest("r3", "From a stale copy."), "No."));
        Assert.Equal(CommitOutcome.Conflict, conflict.Outcome);
        // The same request id the store has already is reported as applied, whatever the version: the caller replays it.
        var again = await store.CommitAsync("c1", Logs.PlanTurn(stale, _prompts, new TurnRequest("r2", "Second."), "Ok."));
        Assert.Equal(CommitOutcome.AlreadyApplied, again.Outcome);
        Assert.Equal(4, (await store.LoadAsync("c1", Ct))!.Messages.Count);

        // Two first commits of the same conversation: one wins.
        var fresh = await store.CommitAsync("c1", Logs.PlanTurn(Logs.Empty(), _prompts, new TurnRequest("r9", "New?"), "No."));
        Assert.Equal(CommitOutcome.Conflict, fresh.Outcome);
    }

    [Fact]
    public async Task A_deleted_conversation_takes_no_write_planned_before_the_delete_and_starts_a_new_incarnation()
    {
        var store = Create(new ConversationOptions());
        var log = Logs.Empty();
        await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest("r1", "Hello."), "Hi!"));
        var late = Logs.PlanTurn(log, _prompts, new TurnRequest("r2", "Too late."), "No.");
        Assert.True(await store.DeleteAsync("c1", Ct));
        Assert.False(await store.DeleteAsync("c1", Ct));
        Assert.Null(await store.LoadAsync("c1", Ct));
        Assert.Equal(CommitOutcome.Conflict, (await store.CommitAsync("c1", late)).Outcome);
        Assert.Null(await store.LoadAsync("c1", Ct));

        var reborn = Logs.Empty();
        await CommitAsync(store, reborn, Logs.PlanTurn(reborn, _prompts, new TurnRequest("r1", "Hello."), "Hi!"));
        var stored = await store.LoadAsync("c1", Ct);
        Assert.NotEqual(log.Incarnation, stored!.Incarnation);
        Assert.Equal(1, stored.Version);
    }

    [Fact]
    public async Task A_reset_empties_the_message_list_and_the_request_ids_stay_bounded()
    {
        var store = Create(new ConversationOptions { MaxRequestIds = 3 });
        var log = Logs.Empty(maxRequestIds: 3);
        for (var i = 0; i < 4; i++)
        {
            await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest($"r{i}", $"Turn {i}."), "Ok."));
        }

        await CommitAsync(store, log, log.PlanReset("reset", 1, Logs.Now));
        var stored = (await store.LoadAsync("c1", Ct))!;
        Assert.Empty(stored.Messages);
        Assert.Equal(8, stored.Header.Base);
        Assert.Equal(["r2", "r3", "reset"], stored.Applied.Select(a => a.Key).Order());
    }

    [Fact]
    public async Task A_conversation_idle_past_its_ttl_is_gone()
    {
        var store = Create(new ConversationOptions { IdleTtl = TimeSpan.FromMilliseconds(400) });
        var log = Logs.Empty();
        await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest("r1", "Hello."), "Hi!"));
        await PassAsync(TimeSpan.FromMilliseconds(100));
        await CommitAsync(store, log, Logs.PlanTurn(log, _prompts, new TurnRequest("r2", "Again."), "Ok."));
        await PassAsync(TimeSpan.FromMilliseconds(350));
        Assert.NotNull(await store.LoadAsync("c1", Ct));
        await PassAsync(TimeSpan.FromMilliseconds(500));
        Assert.Null(await store.LoadAsync("c1", Ct));
    }

    protected static async Task<CommitResult> CommitAsync(IConversationStore store, ConversationLog log, ConversationChange change)
    {
        var result = await store.CommitAsync("c1", change);
        Assert.Equal(CommitOutcome.Committed, result.Outcome);
        log.Apply(change);
        return result;
    }
}
