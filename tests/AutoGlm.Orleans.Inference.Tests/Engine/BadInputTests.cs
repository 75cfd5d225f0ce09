using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Sampling;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>Each bad request gets a clear error, and the engine keeps serving everyone else.</summary>
public sealed class BadInputTests
{
    [Fact]
    public async Task Invalid_requests_are_refused_and_the_engine_keeps_serving()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        var handle = engine.GetOrCreateHandle("bad");
        var context = engine.Manifest.ContextLength;

        var empty = Assert.Throws<InvalidGenerationRequestException>(() => engine.Submit(new GenerationRequest(handle, [], EngineFactory.Greedy(4)), ct));
        Assert.Contains("empty", empty.Message);

        var tooLong = Assert.Throws<InvalidGenerationRequestException>(() =>
            engine.Submit(new GenerationRequest(handle, Enumerable.Repeat(464, context).ToArray(), EngineFactory.Greedy(4)), ct));
        Assert.Contains("context window", tooLong.Message);

        var tooMany = Assert.Throws<InvalidGenerationRequestException>(() =>
            engine.Submit(new GenerationRequest(handle, prompt, EngineFactory.Greedy(context)), ct));
        Assert.Contains("exceed the context window", tooMany.Message);

        var outside = Assert.Throws<InvalidGenerationRequestException>(() =>
            engine.Submit(new GenerationRequest(handle, [1, 2, 999_999], EngineFactory.Greedy(4)), ct));
        Assert.Contains("outside the vocabulary", outside.Message);

        Assert.Throws<InvalidGenerationRequestException>(() =>
            engine.Submit(new GenerationRequest(handle, prompt, new SamplingOptions { Temperature = -1f, MaxNewTokens = 4 }), ct));

        // None of that touched the handle or the engine.
        Assert.False(handle.IsActive);
        var ok = await engine.GenerateAsync("bad", prompt, EngineFactory.Greedy(6), [], ct);
        Assert.Equal(6, ok.Tokens.Length);
    }

    [Fact]
    public async Task A_second_generation_on_a_busy_handle_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        var handle = engine.GetOrCreateHandle("busy");
        var first = EngineFactory.CollectAsync(engine.Submit(new GenerationRequest(handle, prompt, EngineFactory.Greedy(40)) { StopTokenIds = [] }, ct), ct);
        var busy = Assert.Throws<HandleBusyException>(() => engine.Submit(new GenerationRequest(handle, prompt, EngineFactory.Greedy(4)), ct));
        Assert.Contains("already generating", busy.Message);
        Assert.Equal(40, (await first).Tokens.Length);
    }

    [Fact]
    public async Task A_full_queue_is_refused_as_overloaded()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(o => o with { MaxBatchSize = 1, MaxTokensPerStep = 64, MaxQueueLength = 2 });
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        var running = engine.GenerateAsync("q0", prompt, EngineFactory.Greedy(200), [], ct);
        // Wait until q0 is admitted, so the queue holds exactly what follows.
        while (engine.GetStats().Running == 0)
        {
            await Task.Delay(5, ct);
        }

        var queued = new[] { engine.GenerateAsync("q1", prompt, EngineFactory.Greedy(4), [], ct), engine.GenerateAsync("q2", prompt, EngineFactory.Greedy(4), [], ct) };
        var overloaded = Assert.Throws<EngineOverloadedException>(() =>
            engine.Submit(new GenerationRequest(engine.GetOrCreateHandle("q3"), prompt, EngineFactory.Greedy(4)), ct));
        Assert.Equal(2, overloaded.QueueLength);
        Assert.False(engine.GetOrCreateHandle("q3").IsActive);

        Assert.Equal(200, (await running).Tokens.Length);
        foreach (var q in await Task.WhenAll(queued))
        {
            Assert.Equal(4, q.Tokens.Length);
        }
    }

    [Fact]
    public async Task Cancellation_ends_the_request_at_the_next_step_and_keeps_its_kv()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        var other = engine.GenerateAsync("other", prompt, EngineFactory.Greedy(60), [], ct);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var handle = engine.GetOrCreateHandle("cancel");
        var reader = engine.Submit(new GenerationRequest(handle, prompt, EngineFactory.Greedy(500)) { StopTokenIds = [] }, cts.Token);
        var received = new List<int>();
        GenerationChunk? final = null;
        await foreach (var chunk in reader.ReadAllAsync(ct))
        {
            if (chunk.TokenId is { } id)
            {
                received.Add(id);
            }

            if (received.Count == 5)
            {
                cts.Cancel();
            }

            final = chunk.IsFinal ? chunk : final;
        }

        Assert.NotNull(final);
        Assert.Equal(FinishReason.Cancelled, final.Value.FinishReason);
        // Stopped long before its 500 tokens; the consumer may read a few steps behind the scheduler.
        Assert.InRange(received.Count, 5, 100);
        Assert.Equal(received.Count, final.Value.Usage!.CompletionTokens);
        // The handle keeps the KV of what it emitted (all but the last token, which was never fed).
        Assert.Equal(prompt.Length + received.Count - 1, handle.CachedTokenCount);
        Assert.Equal(prompt.Concat(received.Take(received.Count - 1)), handle.Tokens);
        Assert.False(handle.IsActive);
        Assert.Equal(60, (await other).Tokens.Length);
    }
}
