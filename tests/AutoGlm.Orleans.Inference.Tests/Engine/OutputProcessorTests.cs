using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;
using AutoGlm.Orleans.Inference.Scheduling;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>Sampled tokens into chunks, without a model: text, stop tokens, stop sequences, max tokens.</summary>
public sealed class OutputProcessorTests : IDisposable
{
    private const int EndOfText = 50256;

    private readonly EngineMetrics _metrics = new(() => default);
    private readonly KvCachePool _pool = new(1 << 20, 1);

    public void Dispose() => _metrics.Dispose();

    private static List<GenerationChunk> Chunks(ActiveRequest request)
    {
        var chunks = new List<GenerationChunk>();
        while (request.Output.Reader.TryRead(out var chunk))
        {
            chunks.Add(chunk);
        }

        return chunks;
    }

    /// <summary>Feeds <paramref name="ids"/> until one ends the request; returns that finish reason and how many were fed.</summary>
    private (FinishReason? Reason, int Fed) Feed(ActiveRequest request, IReadOnlyList<int> ids)
    {
        var output = new OutputProcessor(_metrics);
        for (var i = 0; i < ids.Count; i++)
        {
            if (output.Process(request, ids[i], Stopwatch.GetTimestamp()) is { } reason)
            {
                return (reason, i + 1);
            }
        }

        return (null, ids.Count);
    }

    [Fact]
    public void Each_token_streams_the_text_it_completes_and_max_tokens_ends_with_the_rest()
    {
        const string text = "Hello there, 世界 and 👋🏽 too.";
        var ids = Requests.R50k.Value.EncodeToIds(text);
        var request = Requests.Create(_pool, "r", 4, maxNewTokens: ids.Count);

        var (reason, fed) = Feed(request, ids);

        Assert.Equal(FinishReason.Length, reason);
        Assert.Equal(ids.Count, fed);
        var chunks = Chunks(request);
        Assert.Equal(ids, chunks.Select(c => c.TokenId!.Value));
        Assert.All(chunks, c => Assert.DoesNotContain('\uFFFD', c.Text.ToString()));
        Assert.Equal(text, string.Concat(chunks.Select(c => c.Text.ToString())) + request.FinalText.ToString());
        Assert.Equal(ids.Count, request.Generated);
        Assert.Equal(ids[^1], request.PendingToken);
    }

    [Fact]
    public void A_stop_token_ends_without_a_chunk_of_its_own_and_is_not_counted()
    {
        var ids = Requests.R50k.Value.EncodeToIds("Hi there").Append(EndOfText).Append(464).ToArray();
        var request = Requests.Create(_pool, "r", 4, maxNewTokens: 100, stopTokens: [EndOfText]);

        var (reason, fed) = Feed(request, ids);

        Assert.Equal(FinishReason.Stop, reason);
        Assert.Equal(ids.Length - 1, fed);
        var chunks = Chunks(request);
        Assert.Equal(ids.Length - 2, chunks.Count);
        Assert.Equal(ids.Length - 2, request.Generated);
        Assert.Equal("Hi there", string.Concat(chunks.Select(c => c.Text.ToString())) + request.FinalText.ToString());
    }

    [Fact]
    public void A_stop_sequence_split_across_tokens_ends_before_it_and_none_of_it_is_streamed()
    {
        var ids = Requests.R50k.Value.EncodeToIds("Sure. User: more text after");
        var request = Requests.Create(_pool, "r", 4, maxNewTokens: 100, stopSequences: ["User:"]);

        var (reason, _) = Feed(request, ids);

        Assert.Equal(FinishReason.StopSequence, reason);
        Assert.Equal("Sure. ", string.Concat(Chunks(request).Select(c => c.Text.ToString())));
        Assert.True(request.FinalText.IsEmpty);
        Assert.Equal("User:", request.StopMatcher!.MatchedStop);
    }

    [Fact]
    public void Text_held_for_a_possible_stop_sequence_is_released_when_the_reply_ends()
    {
        // "</s" is held while it may start "</s>": max tokens ends the reply there, and the flush lets it go.
        var ids = Requests.R50k.Value.EncodeToIds("done </s");
        var request = Requests.Create(_pool, "r", 4, maxNewTokens: ids.Count, stopSequences: ["</s>"]);

        var (reason, _) = Feed(request, ids);

        Assert.Equal(FinishReason.Length, reason);
        Assert.Equal("done </s", string.Concat(Chunks(request).Select(c => c.Text.ToString())) + request.FinalText.ToString());
    }

    [Fact]
    public void A_token_allocates_nothing()
    {
        var ids = Requests.R50k.Value.EncodeToIds(string.Concat(Enumerable.Repeat("Steady text 世界, token by token. ", 40)));
        var request = Requests.Create(_pool, "r", 4, maxNewTokens: 10_000, stopSequences: ["<|user|>"]);
        var output = new OutputProcessor(_metrics);
        for (var i = 0; i < 50; i++)
        {
            output.Process(request, ids[i], Stopwatch.GetTimestamp());
            Chunks(request);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 50; i < ids.Count; i++)
        {
            output.Process(request, ids[i], Stopwatch.GetTimestamp());
            while (request.Output.Reader.TryRead(out _))
            {
            }
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
