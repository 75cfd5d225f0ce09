using System.Diagnostics;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Cluster.Tests.Support;
using AutoGlm.Orleans.Grains;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Orleans.Cluster.Tests;

/// <summary>One change at a time, retries that replay or attach, and callers that vanish: through real grains.</summary>
[Collection(ThreeSiloCollection.Name)]
public sealed class ConversationStateTests(ThreeSiloCluster fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_change_during_a_running_turn_is_refused_as_busy_and_the_turn_is_stored_whole()
    {
        var grain = fixture.Conversations.Get(Greedy.NewId("interleave"));
        await grain.Send(new TurnRequest("first", "Hello.", Greedy.Tokens(4)), Ct);
        var text = "";
        // Past end-of-text and long (about a second on this CPU): the turn must outlast the six refused calls below, even on a loaded machine.
        var longTurn = Greedy.Tokens(800) with { IgnoreEndOfTurn = true };
        await using (var stream = grain.SendStreaming(new TurnRequest("long", "Tell me a long story.", longTurn), Ct).GetAsyncEnumerator(Ct))
        {
            Assert.True(await stream.MoveNextAsync());
            text += stream.Current.Text;
            await Assert.ThrowsAsync<ConversationBusyException>(() => grain.Delete("d1"));
            await Assert.ThrowsAsync<ConversationBusyException>(() => grain.Reset("x1"));
            await Assert.ThrowsAsync<ConversationBusyException>(() => grain.SetSystemPrompt("x2", "Changed."));
            await Assert.ThrowsAsync<ConversationBusyException>(() => grain.SetDefaultOptions("x3", Greedy.Tokens(2)));
            await Assert.ThrowsAsync<ConversationBusyException>(() => grain.ImportHistory("x4", [new ConversationMessage { Role = MessageRole.User, Content = "u" }]));
            await Assert.ThrowsAsync<ConversationBusyException>(() => grain.Send(new TurnRequest("x5", "Interrupting!", Greedy.Tokens(2)), Ct));
            Assert.True((await grain.GetStatus()).IsGenerating);
            while (await stream.MoveNextAsync())
            {
                text += stream.Current.Text;
            }
        }

        var history = await grain.GetHistory();
        Assert.Equal(4, history.Count);
        Assert.Equal(text, history[3].Content);
        Assert.Equal("long", history[3].RequestId);
        // Refused changes were not applied: each runs now.
        await grain.Reset("x1");
        Assert.Empty(await grain.GetHistory());
        await grain.Delete("d1");
        Assert.False((await grain.GetStatus()).Exists);
    }

    [Fact]
    public async Task A_retry_of_a_running_turn_attaches_and_both_callers_get_the_one_stored_reply()
    {
        var grain = fixture.Conversations.Get(Greedy.NewId("attach"));
        var request = new TurnRequest("same-key", "Tell me a long story.", Greedy.Tokens(120));
        await using var first = grain.SendStreaming(request, Ct).GetAsyncEnumerator(Ct);
        Assert.True(await first.MoveNextAsync());
        var firstText = first.Current.Text;

        var retried = await grain.Send(request, Ct);
        while (await first.MoveNextAsync())
        {
            firstText += first.Current.Text;
        }

        Assert.False(retried.Replayed);
        Assert.Equal(firstText, retried.Text);
        var history = await grain.GetHistory();
        Assert.Equal(2, history.Count);
        Assert.Equal(firstText, history[1].Content);
    }

    [Fact]
    public async Task A_retry_of_a_stored_turn_replays_it_and_the_same_key_with_another_request_is_refused()
    {
        var grain = fixture.Conversations.Get(Greedy.NewId("replay"));
        var reply = await grain.Send(new TurnRequest("k1", "Say something.", Greedy.Tokens(6)), Ct);
        var again = await grain.Send(new TurnRequest("k1", "Say something.", Greedy.Tokens(6)), Ct);
        Assert.True(again.Replayed);
        Assert.Equal(reply.Text, again.Text);
        Assert.Equal(reply.TokenIds, again.TokenIds);
        await Assert.ThrowsAsync<IdempotencyKeyReusedException>(() => grain.Send(new TurnRequest("k1", "Something else.", Greedy.Tokens(6)), Ct));
        await Assert.ThrowsAsync<IdempotencyKeyReusedException>(() => grain.Reset("k1"));
        Assert.Equal(2, (await grain.GetHistory()).Count);
    }

    [Fact]
    public async Task A_turn_whose_caller_stops_reading_is_cancelled_within_its_lease_and_the_conversation_takes_the_next_turn()
    {
        var grain = fixture.Conversations.Get(Greedy.NewId("lease"));
        await grain.Send(new TurnRequest("first", "Hello.", Greedy.Tokens(4)), Ct);
        // The caller reads one chunk and then neither reads nor disposes: as if its process had died. The reply is
        // long enough (1,900 tokens, end of turn ignored) to outlast the lease; a shorter one would simply be stored.
        var forever = new GenerationOptions { Temperature = 0f, MaxNewTokens = 1900, IgnoreEndOfTurn = true };
        var abandoned = grain.SendStreaming(new TurnRequest("abandoned", "Tell me a long story.", forever), Ct).GetAsyncEnumerator(Ct);
        Assert.True(await abandoned.MoveNextAsync());

        var watch = Stopwatch.StartNew();
        ConversationReply? next = null;
        while (next is null)
        {
            try
            {
                next = await grain.Send(new TurnRequest("next", "Are you there?", Greedy.Tokens(4)), Ct);
            }
            catch (ConversationBusyException) when (watch.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(200, Ct);
            }
        }

        TestContext.Current.SendDiagnosticMessage($"lease {TestClusters.TurnLease}: the conversation took the next turn after {watch.Elapsed}");
        Assert.InRange(watch.Elapsed, TimeSpan.Zero, TestClusters.TurnLease + TimeSpan.FromSeconds(4));
        var history = await grain.GetHistory();
        Assert.Equal(["first", "first", "next", "next"], history.Select(m => m.RequestId));
        await abandoned.DisposeAsync();
    }

    [Fact]
    public async Task A_write_behind_the_activation_s_back_fails_the_turn_cleanly_and_its_retry_runs_on_the_stored_state()
    {
        var id = Greedy.NewId("conflict");
        var grain = fixture.Conversations.Get(id);
        var first = await grain.Send(new TurnRequest("first", "Hello.", Greedy.Tokens(4)), Ct);

        // Another writer (a second activation during a split, an operator's tool) changes the stored conversation.
        var silo = fixture.Cluster.Silos.Single(s => s.SiloAddress.ToString() == first.Silo);
        var store = fixture.Cluster.GetSiloServiceProvider(silo.SiloAddress).GetRequiredService<IConversationStore>();
        var key = fixture.Conversations.Key(id);
        var behind = ConversationLog.From((await store.LoadAsync(key, Ct))!, 256);
        var change = behind.PlanDefaultOptions("elsewhere", 1, new GenerationOptions { MaxNewTokens = 3 }, DateTimeOffset.UtcNow);
        Assert.Equal(CommitOutcome.Committed, (await store.CommitAsync(key, change)).Outcome);

        var turn = new TurnRequest("second", "Again.", new GenerationOptions { Temperature = 0f });
        await Assert.ThrowsAsync<ConversationChangedException>(() => grain.Send(turn, Ct));
        var retried = await grain.Send(turn, Ct);
        Assert.False(retried.Replayed);
        Assert.Equal(3, retried.Usage.CompletionTokens);
        var status = await grain.GetStatus();
        Assert.Equal(3, status.Version);
        Assert.Equal(4, status.Messages);
    }

    /// <summary>A caller that gives up (the HTTP turn timeout, a client's cancel) cancels the turn: nothing is stored, and the key stays free.</summary>
    [Fact]
    public async Task A_cancelled_call_cancels_its_turn_and_stores_nothing()
    {
        var grain = fixture.Conversations.Get(Greedy.NewId("cancel"));
        await grain.Send(new TurnRequest("first", "Hello.", Greedy.Tokens(4)), Ct);
        var forever = new GenerationOptions { Temperature = 0f, MaxNewTokens = 1900, IgnoreEndOfTurn = true };
        using (var giveUp = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            giveUp.CancelAfter(TimeSpan.FromMilliseconds(300));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => grain.Send(new TurnRequest("slow", "A long story.", forever), giveUp.Token));
        }

        ConversationStatus status;
        var watch = Stopwatch.StartNew();
        while ((status = await grain.GetStatus()).IsGenerating && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(50, Ct);
        }

        Assert.False(status.IsGenerating);
        Assert.Equal(2, status.Messages);
        var retried = await grain.Send(new TurnRequest("slow", "A long story.", Greedy.Tokens(4)), Ct);
        Assert.False(retried.Replayed);
    }
}
