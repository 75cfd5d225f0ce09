using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// Steady decoding allocates (next to) nothing on the scheduler's thread: no chunk objects, no strings, no per-step
/// bindings or input values. Measured as the engine reports it: GC.GetAllocatedBytesForCurrentThread on its thread,
/// over a window of pure decoding at batch 8.
/// </summary>
public sealed class DecodeAllocationTests
{
    private const int Rows = 8;
    private const int WindowSteps = 200;

    [Fact]
    public async Task Steady_decode_at_batch_8_allocates_under_64_bytes_per_token_on_the_scheduler_thread()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(o => o with { MaxBatchSize = Rows });
        string[] questions = ["Hello!", "Tell me a fortune.", "What is HttpClient for?", "Goodbye.", "Hi there.",
            "Give me a quote about love.", "What does Console.WriteLine do?", "Explain the Dispose method of Stream."];
        var received = new int[Rows];
        var streams = new List<Task>();
        for (var r = 0; r < Rows; r++)
        {
            var row = r;
            var prompt = engine.EncodeChat([new(ChatRole.User, questions[r])]);
            // Long enough that no row ends (and none leaves the batch) before the window is over.
            var reader = engine.Submit(new GenerationRequest(engine.GetOrCreateHandle($"alloc-{r}"), prompt, EngineFactory.Greedy(3 * WindowSteps))
            {
                StopTokenIds = [],
            }, ct);
            streams.Add(Task.Run(async () =>
            {
                await foreach (var chunk in reader.ReadAllAsync(ct))
                {
                    if (chunk.TokenId is not null)
                    {
                        Interlocked.Increment(ref received[row]);
                    }
                }
            }, ct));
        }

        // Past every row's first steps in the batch (joining binds the batch anew): from here on, only decoding.
        while (Enumerable.Range(0, Rows).Any(i => Volatile.Read(ref received[i]) < 3))
        {
            await Task.Delay(5, ct);
        }

        var first = engine.GetStats();
        var last = first;
        while (last.DecodedTokens - first.DecodedTokens < WindowSteps * Rows)
        {
            await Task.Delay(5, ct);
            last = engine.GetStats();
        }

        Assert.Equal(Rows, last.Running);
        var tokens = last.DecodedTokens - first.DecodedTokens;
        var bytesPerToken = (double)(last.SchedulerAllocatedBytes - first.SchedulerAllocatedBytes) / tokens;
        Assert.True(bytesPerToken < 64, $"{bytesPerToken:F1} bytes per decoded token over {tokens} tokens");
        await Task.WhenAll(streams);
    }
}
