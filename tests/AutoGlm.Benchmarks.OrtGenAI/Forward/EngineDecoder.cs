using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Runtime;
using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Benchmarks.OrtGenAI.Forward;

/// <summary>
/// Our engine: each window is a turn on each of <c>batch</c> handles whose prompt is that row's whole sequence so
/// far, so the engine reuses its KV and prefills nothing but the turn's first token. The window's time runs from
/// the moment every row has its first token until the first row has its last: decode steps of the whole batch
/// alone, through the scheduler, sampling and the token channels.
/// </summary>
internal sealed class EngineDecoder : IWindowDecoder
{
    private readonly InferenceEngine _engine;
    private readonly KvCacheHandle[] _handles;
    private readonly List<int>[] _sequences;

    public EngineDecoder(string name, string modelPath, int intraOpThreads, IntraOpSpinning spinning, int[] prompt, int batch)
    {
        Name = name;
        _engine = InferenceEngine.Create(new EngineOptions
        {
            ModelPath = modelPath,
            IntraOpThreads = intraOpThreads,
            IntraOpSpinning = spinning,
            MaxBatchSize = batch,
            MaxTokensPerStep = Math.Max(prompt.Length, batch),
        });
        _handles = [.. Enumerable.Range(0, batch).Select(r => _engine.GetOrCreateHandle($"forward-comparison-{r}"))];
        _sequences = [.. Enumerable.Range(0, batch).Select(_ => new List<int>(prompt))];
    }

    public string Name { get; }

    /// <summary>Each window's forward and sampling+emission milliseconds a decode step, from the engine's own stats.</summary>
    public List<(double ForwardMs, double EmitMs)> Breakdown { get; } = [];

    public async Task<double> DecodeWindowAsync(int steps, CancellationToken cancellationToken)
    {
        var before = _engine.GetStats();
        var rows = await Task.WhenAll(_handles.Select((handle, r) => TurnAsync(handle, _sequences[r], steps, cancellationToken))).ConfigureAwait(false);
        var after = _engine.GetStats();
        var decodeSteps = Math.Max(1, (after.DecodedTokens - before.DecodedTokens) / _handles.Length);
        Breakdown.Add(((after.DecodeForwardSeconds - before.DecodeForwardSeconds) * 1000 / decodeSteps,
            (after.DecodeEmitSeconds - before.DecodeEmitSeconds) * 1000 / decodeSteps));

        var start = rows.Max(stamps => stamps[0]);
        var end = rows.Min(stamps => stamps[^1]);
        var tokens = rows.Sum(stamps => stamps.Count(t => t > start && t <= end));
        if (tokens == 0)
        {
            throw new InvalidOperationException("the rows' decoding never overlapped: no steady window to time");
        }

        return Stopwatch.GetElapsedTime(start, end).TotalMilliseconds * _handles.Length / tokens;
    }

    private async Task<List<long>> TurnAsync(KvCacheHandle handle, List<int> sequence, int steps, CancellationToken cancellationToken)
    {
        var request = new GenerationRequest(handle, sequence.ToArray(), new SamplingOptions { Temperature = 0f, MaxNewTokens = steps + 1 })
        {
            StopTokenIds = [],
        };
        var stamps = new List<long>(steps + 1);
        await foreach (var chunk in _engine.Submit(request, cancellationToken).ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            if (chunk.TokenId is { } id)
            {
                sequence.Add(id);
                stamps.Add(Stopwatch.GetTimestamp());
            }
        }

        if (stamps.Count != steps + 1)
        {
            throw new InvalidOperationException($"the engine generated {stamps.Count} tokens, not {steps + 1}");
        }

        return stamps;
    }

    public void Dispose() => _engine.Dispose();
}
