using System.Diagnostics;
using System.Diagnostics.Metrics;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// A request the engine cannot admit within MaxQueueWait fails as overloaded instead of hanging, leaves its handle
/// as it was, and never disturbs what is running. Timings are bounds, not targets: the machine may be loaded.
/// </summary>
public sealed class QueueWaitTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task A_request_waiting_past_the_limit_fails_as_overloaded_and_its_handle_serves_the_next_turn()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(o => o with { MaxBatchSize = 1, MaxTokensPerStep = 64, MaxQueueWait = Wait });
        using var timeouts = new TimeoutCounter(engine);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        // The queued conversation has history: a timed-out turn must leave that cache untouched.
        var (turn1, setupRefusals) = await AdmittedAsync(engine, "queued", prompt, 8, ct);
        var handle = engine.GetOrCreateHandle("queued");
        var cachedBefore = handle.Tokens.ToArray();
        var turn2 = prompt.Concat(turn1.Tokens).Concat(engine.Tokenizer.EncodeToIds("<|endoftext|><|user|>\nMore.\n<|assistant|>\n")).ToArray();

        // No end of turn: the long request holds the only batch slot for well over a second, however fast the machine.
        var longMaxTokens = engine.Manifest.ContextLength - prompt.Length - 1;
        var running = engine.GenerateAsync("long", prompt, EngineFactory.Greedy(longMaxTokens), [], ct);
        var runningEnded = running.ContinueWith(_ => Stopwatch.GetTimestamp(), ct, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        while (engine.GetStats().Running == 0)
        {
            await Task.Delay(5, ct);
        }

        var submitted = Stopwatch.GetTimestamp();
        var queued = engine.Submit(new GenerationRequest(handle, turn2, EngineFactory.Greedy(8)) { StopTokenIds = [] }, ct);
        var refused = await Assert.ThrowsAsync<EngineOverloadedException>(() => EngineFactory.CollectAsync(queued, ct));
        var refusedAt = Stopwatch.GetTimestamp();

        Assert.Equal(Wait, refused.QueueWait);
        Assert.Contains("not admitted within 200 ms", refused.Message);
        Assert.True(Stopwatch.GetElapsedTime(submitted, refusedAt) >= Wait, $"refused after {Stopwatch.GetElapsedTime(submitted, refusedAt)}");
        Assert.False(running.IsCompleted, "the queued request was refused while the long one still held the slot");
        // Given back as it was: idle, nothing reserved, the same cached tokens.
        Assert.False(handle.IsActive);
        Assert.Equal(cachedBefore, handle.Tokens);
        Assert.Equal(0, engine.GetStats().Waiting);

        var longRun = await running;
        Assert.Equal(longMaxTokens, longRun.Tokens.Length);
        Assert.True(refusedAt < await runningEnded);
        Assert.Equal(1 + setupRefusals, timeouts.Count);

        // The same turn again, now that the slot is free: served, reusing the cache the refused one left alone.
        var (retried, retryRefusals) = await AdmittedAsync(engine, "queued", turn2, 8, ct);
        Assert.Equal(8, retried.Tokens.Length);
        Assert.Equal(cachedBefore.Length, retried.Usage.CachedTokens);
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
        Assert.Equal(1 + setupRefusals + retryRefusals, timeouts.Count);
    }

    [Fact]
    public async Task A_request_waiting_for_kv_room_times_out_without_truncating_its_handle()
    {
        var ct = TestContext.Current.CancellationToken;
        var bytesPerToken = 6 * 2 * 4 * 32 * 4L;
        // Batch slots to spare: only the KV budget (2,000 tokens) keeps the second request waiting.
        using var engine = EngineFactory.Create(o => o with { MaxBatchSize = 4, MaxTokensPerStep = 64, MaxQueueWait = Wait, KvBudgetBytes = 2_000 * bytesPerToken });
        Assert.Equal(bytesPerToken, engine.Manifest.KvBytesPerToken);
        using var timeouts = new TimeoutCounter(engine);
        var original = engine.EncodeChat([new(ChatRole.User, "Tell me something about computers.")]);
        var (_, setupRefusals) = await AdmittedAsync(engine, "edited", original, 40, ct);
        var handle = engine.GetOrCreateHandle("edited");
        var cachedBefore = handle.Tokens.ToArray();
        // A different history shares only the template's first tokens: admitting it would drop the rest of the cache.
        var edited = engine.EncodeChat([new(ChatRole.User, "Goodbye.")]);
        Assert.InRange(original.Zip(edited).TakeWhile(p => p.First == p.Second).Count(), 0, cachedBefore.Length - 10);

        // The long request reserves ~1,910 tokens for over a second; the edited one needs 200, more than what is left.
        var running = engine.GenerateAsync("long", edited, EngineFactory.Greedy(1_900), [], ct);
        while (engine.GetStats().Running == 0)
        {
            await Task.Delay(5, ct);
        }

        var queued = engine.Submit(new GenerationRequest(handle, edited, EngineFactory.Greedy(200)), ct);
        await Assert.ThrowsAsync<EngineOverloadedException>(() => EngineFactory.CollectAsync(queued, ct));
        Assert.False(running.IsCompleted, "refused while the long request still held the KV");
        Assert.False(handle.IsActive);
        Assert.Equal(cachedBefore, handle.Tokens);
        Assert.Equal(1 + setupRefusals, timeouts.Count);

        Assert.Equal(1_900, (await running).Tokens.Length);
        var (retried, _) = await AdmittedAsync(engine, "edited", edited, 20, ct);
        Assert.Equal(20, retried.Tokens.Length);
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
    }

    [Fact]
    public void The_wait_limit_is_validated()
    {
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => EngineFactory.Create(o => o with { MaxQueueWait = TimeSpan.FromSeconds(-1) }));
        Assert.Equal(nameof(EngineOptions.MaxQueueWait), negative.ParamName);
        var options = new EngineOptions { ModelPath = RepositoryPaths.DefaultModel };
        Assert.Equal(TimeSpan.FromSeconds(30), options.MaxQueueWait);
        (options with { MaxQueueWait = TimeSpan.Zero }).Validate();
        (options with { MaxQueueWait = Timeout.InfiniteTimeSpan }).Validate();
    }

    /// <summary>
    /// A turn on an idle engine, retried while it is refused: the 200 ms limit covers every request, and on a loaded
    /// machine (CI runs the test projects side by side) even an idle engine's first step can start later than that.
    /// Returns the turn and how many times it was refused (each one counted as a queue timeout).
    /// </summary>
    private static async Task<(Generation Turn, int Refusals)> AdmittedAsync(InferenceEngine engine, string handle, IReadOnlyList<int> prompt,
        int maxTokens, CancellationToken ct)
    {
        for (var refusals = 0; ; refusals++)
        {
            try
            {
                return (await engine.GenerateAsync(handle, prompt, EngineFactory.Greedy(maxTokens), [], ct), refusals);
            }
            catch (EngineOverloadedException) when (refusals < 20)
            {
                await Task.Delay(50, ct);
            }
        }
    }

    /// <summary>Counts this engine's autoglm.request_queue_timeouts measurements.</summary>
    private sealed class TimeoutCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _count;

        public TimeoutCounter(InferenceEngine engine)
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, engine.Metrics.Meter) && instrument.Name == "autoglm.request_queue_timeouts")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _count, value));
            _listener.Start();
        }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose() => _listener.Dispose();
    }
}
