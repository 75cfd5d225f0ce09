using System.Diagnostics.Metrics;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Grains.Serving;

/// <summary>
/// This silo's serving figures, gathered in-process by a <see cref="MeterListener"/> over what is measured already:
/// its engine's meter (TTFT and ITL samples, generated, prompt and cached tokens) and the conversation counters.
/// Counters run from the listener's start (the silo engine grain's first activation, before any turn); TTFT and ITL keep a
/// bounded window of recent samples for percentiles; output tokens/s is a mean over the last whole seconds.
/// </summary>
/// <remarks>
/// The engine's meter is this silo's own instance. The conversation meter is one per process: a measurement made in a
/// grain of another silo hosted by the same process (tests) is left out; one made outside any grain is counted.
/// </remarks>
public sealed class ServingMetrics : IDisposable
{
    private const int RateSeconds = 5;
    private static readonly TimeSpan LatencyAge = TimeSpan.FromSeconds(60);

    private readonly MeterListener _listener = new();
    private readonly Meter _engineMeter;
    private readonly SiloAddress _silo;
    private readonly IGrainContextAccessor _grainContext;
    private readonly TimeProvider _time;
    private readonly LatencyWindow _ttft = new(2048, LatencyAge);
    private readonly LatencyWindow _itl = new(8192, LatencyAge);
    private readonly RateWindow _output = new(RateSeconds);
    private readonly long[] _totals = new long[Enum.GetValues<Figure>().Length];

    public ServingMetrics(InferenceEngine engine, ILocalSiloDetails localSilo, IGrainContextAccessor grainContext, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(localSilo);
        _engineMeter = engine.Metrics.Meter;
        _silo = localSilo.SiloAddress;
        _grainContext = grainContext;
        _time = time;
        _listener.InstrumentPublished = Publish;
        _listener.SetMeasurementEventCallback<double>((_, value, _, state) => Record((Figure)state!, value));
        _listener.SetMeasurementEventCallback<long>((_, value, _, state) => Record((Figure)state!, value));
        _listener.Start();
    }

    private enum Figure
    {
        TimeToFirstToken,
        InterTokenLatency,
        OutputTokens,
        PromptTokens,
        CachedPromptTokens,
        Turns,
        ConversationCachedTokens,
        RecomputedTokens,
        KvMoves,
        RecomputeAvoidedTokens,
        SharedTokens,
    }

    /// <summary>The figures now, on top of <paramref name="batcher"/> (the queue and KV, read from the engine).</summary>
    public ServingStats Snapshot(BatcherStats batcher, bool draining, Inference.KvCache.RestoreTierStats? tier = null)
    {
        var withTier = tier is { Kind: not Inference.Engine.RestoreTierKind.Off, CapacityBytes: > 0 };
        ArgumentNullException.ThrowIfNull(batcher);
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return new ServingStats
        {
            Batcher = batcher,
            Draining = draining,
            // Shown only when the engine has a restore tier.
            RestoreUsedBytes = withTier ? tier!.BytesHeld : null,
            RestoreBudgetBytes = withTier ? tier!.CapacityBytes : null,
            OutputTokensPerSecond = _output.PerSecond(now),
            RateWindowSeconds = RateSeconds,
            OutputTokens = Total(Figure.OutputTokens),
            PromptTokens = Total(Figure.PromptTokens),
            CachedPromptTokens = Total(Figure.CachedPromptTokens),
            TimeToFirstToken = _ttft.Summarize(now),
            InterTokenLatency = _itl.Summarize(now),
            LatencyWindowSeconds = LatencyAge.TotalSeconds,
            Turns = Total(Figure.Turns),
            ConversationCachedTokens = Total(Figure.ConversationCachedTokens),
            RecomputedTokens = Total(Figure.RecomputedTokens),
            KvMoves = Total(Figure.KvMoves),
            RecomputeAvoidedTokens = Total(Figure.RecomputeAvoidedTokens),
            SharedTokens = Total(Figure.SharedTokens),
        };
    }

    public void Dispose() => _listener.Dispose();

    private long Total(Figure figure) => Interlocked.Read(ref _totals[(int)figure]);

    private void Publish(Instrument instrument, MeterListener listener)
    {
        Figure? figure = null;
        if (ReferenceEquals(instrument.Meter, _engineMeter))
        {
            figure = instrument.Name switch
            {
                "autoglm.time_to_first_token" => Figure.TimeToFirstToken,
                "autoglm.inter_token_latency" => Figure.InterTokenLatency,
                "autoglm.generation_tokens" => Figure.OutputTokens,
                "autoglm.prompt_tokens" => Figure.PromptTokens,
                "autoglm.prefix_cache_hits" => Figure.CachedPromptTokens,
                _ => null,
            };
        }
        else if (instrument.Meter.Name == ConversationMetrics.MeterName)
        {
            figure = instrument.Name switch
            {
                "autoglm.conversation.turns" => Figure.Turns,
                "autoglm.conversation.cached_tokens" => Figure.ConversationCachedTokens,
                "autoglm.conversation.recomputed_tokens" => Figure.RecomputedTokens,
                "autoglm.conversation.kv_moves" => Figure.KvMoves,
                "autoglm.conversation.recompute_avoided_tokens" => Figure.RecomputeAvoidedTokens,
                "autoglm.conversation.shared_tokens" => Figure.SharedTokens,
                _ => null,
            };
        }

        if (figure is { } f)
        {
            listener.EnableMeasurementEvents(instrument, f);
        }
    }

    private void Record(Figure figure, double value)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        switch (figure)
        {
            case Figure.TimeToFirstToken:
                _ttft.Add(value, now);
                break;
            case Figure.InterTokenLatency:
                _itl.Add(value, now);
                break;
        }
    }

    private void Record(Figure figure, long value)
    {
        if (figure >= Figure.Turns && !OnThisSilo())
        {
            return;
        }

        Interlocked.Add(ref _totals[(int)figure], value);
        if (figure == Figure.OutputTokens)
        {
            _output.Add(value, _time.GetUtcNow().ToUnixTimeMilliseconds());
        }
    }

    /// <summary>A conversation counter counts here unless a grain of another silo (of this process) made it.</summary>
    private bool OnThisSilo() => _grainContext.GrainContext?.Address.SiloAddress is not { } silo || silo.Equals(_silo);
}
