using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// What a naive service does, on our own engine and model: a fixed pool of workers, each serving one request at
/// a time from a FIFO queue, with no batching across conversations and no state kept between turns. The client
/// sends the whole history every turn and the worker prefills all of it into a fresh KV handle, released after.
/// Each worker owns an engine with MaxBatchSize 1 and an equal share of the cores, so two requests never share a
/// forward (a shared engine would batch them, which is exactly what a naive service does not do).
/// </summary>
public sealed class StatelessSystem : IChatSystem
{
    private readonly InferenceEngine[] _engines;
    private readonly Channel<InferenceEngine> _idle;
    private readonly ConcurrentDictionary<string, List<int>> _histories = new();
    private long _requests;

    public StatelessSystem(string modelPath, int contextLength, int workers, int threadsPerWorker)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workers);
        _engines = new InferenceEngine[workers];
        _idle = Channel.CreateUnbounded<InferenceEngine>();
        for (var i = 0; i < workers; i++)
        {
            _engines[i] = InferenceEngine.Create(new EngineOptions
            {
                ModelPath = modelPath,
                IntraOpThreads = threadsPerWorker,
                MaxBatchSize = 1,
                // The whole history in one forward: a naive service does not chunk its prefill.
                MaxTokensPerStep = contextLength,
            });
            _idle.Writer.TryWrite(_engines[i]);
        }
    }

    public async IAsyncEnumerable<TurnChunk> SendAsync(string conversationId, ChatTurn turn,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        // The history is the client's: a stateless service receives it again with every message.
        var history = _histories.GetOrAdd(conversationId, _ => []);
        var prompt = new List<int>(history.Count + turn.SegmentTokenIds.Length);
        prompt.AddRange(history);
        prompt.AddRange(turn.SegmentTokenIds);

        var engine = await _idle.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var reply = new List<int>(turn.ReplyTokens);
        try
        {
            using var handle = engine.GetOrCreateHandle($"{conversationId}/{Interlocked.Increment(ref _requests)}");
            var request = new GenerationRequest(handle, prompt, new SamplingOptions { Temperature = 0f, MaxNewTokens = turn.ReplyTokens })
            {
                StopTokenIds = [],
            };
            await foreach (var chunk in engine.Submit(request, cancellationToken).ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (chunk.TokenId is { } id)
                {
                    reply.Add(id);
                    yield return new TurnChunk(1);
                }

                if (chunk.Usage is { } usage)
                {
                    yield return new TurnChunk(0, new TurnUsage(usage.PromptTokens, usage.CachedTokens, usage.CompletionTokens));
                }
            }
        }
        finally
        {
            _idle.Writer.TryWrite(engine);
        }

        prompt.AddRange(reply);
        _histories[conversationId] = prompt;
    }

    public ValueTask DisposeAsync()
    {
        foreach (var engine in _engines)
        {
            engine.Dispose();
        }

        return ValueTask.CompletedTask;
    }
}
