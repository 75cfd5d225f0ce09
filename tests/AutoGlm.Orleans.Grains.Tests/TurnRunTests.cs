using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Turns;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class TurnRunTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task A_reader_gets_every_chunk_then_the_final_one_with_the_stored_reply()
    {
        var run = new TurnRun("r1", 1, _time);
        using var reader = run.Attach();
        Produce(run, "Hel", [1, 2]);
        Assert.Equal("Hel", (await reader.NextAsync(Ct))!.Text);
        var next = reader.NextAsync(Ct);
        Assert.False(next.IsCompleted);
        Produce(run, "lo", [3]);
        var chunk = await next;
        Assert.Equal("lo", chunk!.Text);
        Assert.Equal([3], chunk.TokenIds!);
        Produce(run, "!", [4]);
        run.Complete(Reply("Hello!"));
        var final = await reader.NextAsync(Ct);
        Assert.Equal("!", final!.Text);
        Assert.Equal(ReplyFinishReason.Stop, final.FinishReason);
        Assert.Equal(7, final.Usage!.CompletionTokens);
        Assert.Null(await reader.NextAsync(Ct));
        Assert.True(reader.End!.IsCompleted);
    }

    [Fact]
    public async Task A_retry_that_attaches_mid_run_first_gets_everything_so_far_in_one_chunk()
    {
        var run = new TurnRun("r1", 1, _time);
        using var first = run.Attach();
        Produce(run, "One ", [1]);
        Produce(run, "two ", [2]);
        using var retry = run.Attach();
        var caughtUp = await retry.NextAsync(Ct);
        Assert.Equal("One two ", caughtUp!.Text);
        Assert.Equal([1, 2], caughtUp.TokenIds!);
        run.Complete(Reply("One two "));
        Assert.True((await retry.NextAsync(Ct))!.IsFinal);
        Assert.Equal("One two ", (await first.NextAsync(Ct))!.Text);
    }

    [Fact]
    public async Task A_failed_run_throws_its_error_to_every_reader()
    {
        var run = new TurnRun("r1", 1, _time);
        using var a = run.Attach();
        using var b = run.Attach();
        Produce(run, "partial", null);
        Assert.Equal("partial", (await a.NextAsync(Ct))!.Text);
        Produce(run, " and more", null);
        run.Fail(new StorageUnavailableException("redis is away"));
        // What was not read yet is void: the reply was not stored.
        await Assert.ThrowsAsync<StorageUnavailableException>(async () => await a.NextAsync(Ct));
        await Assert.ThrowsAsync<StorageUnavailableException>(async () => await b.NextAsync(Ct));
    }

    [Fact]
    public void The_last_reader_leaving_cancels_the_run_but_one_of_two_does_not()
    {
        var run = new TurnRun("r1", 1, _time);
        var a = run.Attach();
        var b = run.Attach();
        a.Dispose();
        Assert.False(run.Cancellation.IsCancellationRequested);
        b.Dispose();
        Assert.True(run.Cancellation.IsCancellationRequested);
        Assert.True(run.IsEnding);
    }

    [Fact]
    public async Task A_run_is_orphaned_once_every_reader_sat_on_a_chunk_longer_than_the_lease()
    {
        var run = new TurnRun("r1", 1, _time);
        using var reader = run.Attach();
        // Waiting for data is not orphaned, however long: the caller asked and nothing came yet.
        var waiting = reader.NextAsync(Ct);
        _time.Advance(Lease * 3);
        Assert.False(run.IsOrphaned(Lease));

        Produce(run, "chunk", null);
        await waiting;
        _time.Advance(Lease - TimeSpan.FromSeconds(1));
        Assert.False(run.IsOrphaned(Lease));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(run.IsOrphaned(Lease));

        // A pull renews it.
        var pulled = reader.NextAsync(Ct);
        Assert.False(run.IsOrphaned(Lease));
        Produce(run, "more", null);
        await pulled;
        Assert.False(run.IsOrphaned(Lease));
    }

    [Fact]
    public async Task An_interrupted_run_ends_cancelled_with_the_reason_its_readers_hear()
    {
        var run = new TurnRun("r1", 1, _time);
        using var reader = run.Attach();
        var pending = reader.NextAsync(Ct);
        run.Interrupt(new TurnInterruptedException("shutting down"));
        Assert.True(run.Cancellation.IsCancellationRequested);
        run.EndCancelled();
        Assert.Null(await pending);
        Assert.IsType<TurnInterruptedException>(reader.End!.CancelReason);
        Assert.False(reader.End.IsCompleted);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ConversationReply Reply(string text) => new()
    {
        RequestId = "r1", Text = text, FinishReason = ReplyFinishReason.Stop, Usage = new TurnUsage { CompletionTokens = 7 }, Silo = "s",
    };
    [Fact]
    public async Task With_a_chunk_window_the_first_token_goes_at_once_and_later_ones_are_coalesced()
    {
        var run = new TurnRun("r1", 1, _time, TimeSpan.FromMilliseconds(4));
        using var reader = run.Attach();
        Produce(run, "A", [1]);
        Assert.Equal("A", (await reader.NextAsync(Ct))!.Text);
        var next = reader.NextAsync(Ct);
        Produce(run, "B", [2]);
        Produce(run, "C", [3]);
        await Task.Delay(50, Ct);
        Assert.False(next.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(2));
        Produce(run, "D", [4]);
        await Task.Delay(50, Ct);
        Assert.False(next.IsCompleted);
        // The reader's timer may have started late (its thread ran after an advance): step the clock until it fires.
        for (var i = 0; i < 50 && !next.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(1));
            await Task.Delay(10, Ct);
        }

        var chunk = await next.AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("BCD", chunk!.Text);
        Assert.Equal([2, 3, 4], chunk.TokenIds!);
    }

    [Fact]
    public async Task The_end_of_the_run_is_never_held_back_by_the_chunk_window()
    {
        var run = new TurnRun("r1", 1, _time, TimeSpan.FromSeconds(10));
        using var reader = run.Attach();
        Produce(run, "A", [1]);
        Assert.Equal("A", (await reader.NextAsync(Ct))!.Text);
        var next = reader.NextAsync(Ct);
        Produce(run, "B", [2]);
        run.Complete(Reply("AB"));
        var final = await next.AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        Assert.Equal("B", final!.Text);
        Assert.Equal(ReplyFinishReason.Stop, final.FinishReason);
    }

    [Fact]
    public async Task Readers_wake_once_per_publish_not_per_token()
    {
        var run = new TurnRun("r1", 1, _time);
        using var reader = run.Attach();
        var next = reader.NextAsync(Ct);
        run.Add("x", 1);
        run.Add("y", 2);
        await Task.Yield();
        Assert.False(next.IsCompleted);
        run.Publish();
        Assert.Equal("xy", (await next.AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct))!.Text);
    }

    [Fact]
    public void The_producer_publishes_the_first_token_at_once_then_at_most_once_per_window()
    {
        var run = new TurnRun("r1", 1, _time, TimeSpan.FromMilliseconds(4));
        Assert.Null(run.PublishDelay());
        Produce(run, "A", [1]);
        Assert.Equal(TimeSpan.FromMilliseconds(4), run.PublishDelay());
        _time.Advance(TimeSpan.FromMilliseconds(3));
        Assert.Equal(TimeSpan.FromMilliseconds(1), run.PublishDelay());
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(run.PublishDelay());
        Assert.Null(new TurnRun("r2", 1, _time).PublishDelay());
    }

    /// <summary>What the grain's turn does with what one read of the engine's stream returned.</summary>
    private static void Produce(TurnRun run, string text, int[]? ids)
    {
        run.Add(text, null);
        foreach (var id in ids ?? [])
        {
            run.Add(default, id);
        }

        run.Publish();
    }
}
