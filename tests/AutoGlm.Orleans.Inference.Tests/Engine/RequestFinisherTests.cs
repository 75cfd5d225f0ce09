using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Metrics;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// Every way a request ends goes through one finish: its handle comes back exactly once (idle, listed once, nothing
/// reserved), its stream ends once, and it is counted once, under its reason.
/// </summary>
public sealed class RequestFinisherTests
{
    [Fact]
    public async Task Complete_cancel_mid_decode_and_refusal_each_give_the_handle_back_once_and_count_once()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(o => o with { MaxBatchSize = 2, MaxTokensPerStep = 64, MaxQueueWait = TimeSpan.FromMilliseconds(300) });
        using var finished = new FinishCounter(engine);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);

        // Completed: max tokens.
        var completed = await engine.GenerateAsync("completed", prompt, EngineFactory.Greedy(8), [], ct);
        Assert.Equal(FinishReason.Length, completed.FinishReason);

        // Cancelled mid-decode, while another row keeps the batch going.
        var other = engine.GenerateAsync("other", prompt, EngineFactory.Greedy(1_500), [], ct);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var reader = engine.Submit(new GenerationRequest(engine.GetOrCreateHandle("cancelled"), prompt, EngineFactory.Greedy(1_000)) { StopTokenIds = [] }, cancel.Token);
        var tokens = 0;
        GenerationChunk? last = null;
        await foreach (var chunk in reader.ReadAllAsync(ct))
        {
            if (chunk.TokenId is not null && ++tokens == 3)
            {
                await cancel.CancelAsync();
            }

            last = chunk;
        }

        Assert.Equal(FinishReason.Cancelled, last!.Value.FinishReason);

        // Refused: the batch's two places are taken (the long one and a second long one) until it waits too long.
        var second = engine.GenerateAsync("second", prompt, EngineFactory.Greedy(1_500), [], ct);
        while (engine.GetStats().Running < 2)
        {
            await Task.Delay(5, ct);
        }

        var refusedHandle = engine.GetOrCreateHandle("completed"); // has a cache: a refusal must leave it alone
        var cachedBefore = refusedHandle.Tokens.ToArray();
        await Assert.ThrowsAsync<EngineOverloadedException>(() =>
            engine.GenerateAsync("completed", prompt.Concat(completed.Tokens).ToArray(), EngineFactory.Greedy(4), [], ct));
        Assert.Equal(cachedBefore, refusedHandle.Tokens);
        await Task.WhenAll(other, second);

        foreach (var id in new[] { "completed", "cancelled", "other", "second" })
        {
            Assert.False(engine.GetOrCreateHandle(id).IsActive, id);
        }

        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
        Assert.Equal(4, engine.Pool.IdleCount); // each handle listed once: given back once
        Assert.Equal(new Dictionary<string, int> { ["length"] = 3, ["cancelled"] = 1, ["refused"] = 1 }, finished.ByReason());
    }

    [Fact]
    public async Task A_failure_mid_decode_gives_the_handle_back_once_with_its_kv_dropped_and_counts_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var engine = EngineFactory.Create();
        using var finished = new FinishCounter(engine);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        var handle = engine.GetOrCreateHandle("failing");
        var reader = engine.Submit(new GenerationRequest(handle, prompt, EngineFactory.Greedy(1_500)) { StopTokenIds = [] }, ct);
        Assert.True(await reader.WaitToReadAsync(ct));
        Assert.True(reader.TryRead(out var first) && first.TokenId is not null);

        // The engine stops under the running generation: its stream ends with the error, not a final chunk.
        engine.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => EngineFactory.CollectAsync(reader, ct));

        Assert.False(handle.IsActive);
        Assert.Equal(0, handle.CachedTokenCount); // after a failure the KV may not match its tokens
        Assert.Equal(1, engine.Pool.IdleCount);
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
        Assert.Equal(new Dictionary<string, int> { ["error"] = 1 }, finished.ByReason());
    }

    /// <summary>This engine's autoglm.requests measurements, by finish_reason.</summary>
    private sealed class FinishCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, int> _counts = new();

        public FinishCounter(InferenceEngine engine)
        {
            var meter = engine.Metrics.Meter;
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "autoglm.requests")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                {
                    if (tag.Key == "finish_reason")
                    {
                        _counts.AddOrUpdate((string)tag.Value!, (int)value, (_, n) => n + (int)value);
                    }
                }
            });
            _listener.Start();
        }

        public Dictionary<string, int> ByReason() => new(_counts);

        public void Dispose() => _listener.Dispose();
    }
}
