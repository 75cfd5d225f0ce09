using System.Diagnostics.Metrics;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>The engine's meter reports what happened: TTFT, tokens, prefix-cache queries and hits, KV bytes.</summary>
public sealed class EngineMetricsTests
{
    [Fact]
    public async Task Instruments_report_ttft_tokens_prefix_hits_and_kv_bytes()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var measurements = new Dictionary<string, double>();
        var counts = new Dictionary<string, int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, engine.Metrics.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record(Instrument instrument, double value)
        {
            lock (measurements)
            {
                measurements[instrument.Name] = measurements.GetValueOrDefault(instrument.Name) + value;
                counts[instrument.Name] = counts.GetValueOrDefault(instrument.Name) + 1;
            }
        }

        listener.SetMeasurementEventCallback<double>((i, v, _, _) => Record(i, v));
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => Record(i, v));
        listener.SetMeasurementEventCallback<int>((i, v, _, _) => Record(i, v));
        listener.Start();

        var turn1 = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        var reply = await engine.GenerateAsync("m", turn1, EngineFactory.Greedy(10), [], ct);
        var turn2 = turn1.Concat(reply.Tokens).Concat(engine.Tokenizer.EncodeToIds("<|endoftext|><|user|>\nBye!\n<|assistant|>\n")).ToArray();
        var second = await engine.GenerateAsync("m", turn2, EngineFactory.Greedy(10), [], ct);
        listener.RecordObservableInstruments();

        lock (measurements)
        {
            Assert.Equal(2, counts["autoglm.time_to_first_token"]);
            Assert.Equal(20, measurements["autoglm.generation_tokens"]);
            Assert.Equal(turn1.Length + turn2.Length, measurements["autoglm.prefix_cache_queries"]);
            Assert.Equal(second.Usage.CachedTokens, measurements["autoglm.prefix_cache_hits"]);
            Assert.True(second.Usage.CachedTokens > 0);
            Assert.Equal(engine.Pool.UsedBytes, measurements["autoglm.kv_cache_used_bytes"]);
            Assert.True(measurements["autoglm.kv_cache_budget_bytes"] > 0);
            Assert.Equal(18, counts["autoglm.inter_token_latency"]);
            Assert.True(counts["autoglm.decode_step_time"] >= 18);
        }
    }
}
