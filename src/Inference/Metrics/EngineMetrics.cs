using System.Diagnostics.Metrics;
using AutoGlm.Orleans.Inference.KvCache;

namespace AutoGlm.Orleans.Inference.Metrics;

/// <summary>
/// The engine's instruments, named after vLLM's (time_to_first_token, inter_token_latency, prefix_cache_queries
/// and _hits in tokens, kv_cache usage, requests running and waiting) under the "autoglm." prefix.
/// </summary>
public sealed class EngineMetrics : IDisposable
{
    public const string MeterName = "AutoGlm.Orleans.Inference";

    private readonly Meter _meter;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _interTokenLatency;
    private readonly Histogram<double> _e2eLatency;
    private readonly Histogram<double> _queueTime;
    private readonly Histogram<double> _prefillTime;
    private readonly Histogram<double> _decodeStepTime;
    private readonly Histogram<int> _batchSize;
    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _computedPromptTokens;
    private readonly Counter<long> _generationTokens;
    private readonly Counter<long> _prefixCacheQueries;
    private readonly Counter<long> _prefixCacheHits;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _queueTimeouts;
    private readonly Histogram<double> _restoreTime;

    /// <summary>
    /// The instruments; <paramref name="restoreTier"/> reads the restore tier's figures for its observable instruments
    /// (all zero without it).
    /// </summary>
    public EngineMetrics(Func<EngineGauges> gauges, IMeterFactory? meterFactory = null, Func<RestoreTierStats>? restoreTier = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _timeToFirstToken = _meter.CreateHistogram<double>("autoglm.time_to_first_token", "s", "Time from submission to the first generated token.");
        _interTokenLatency = _meter.CreateHistogram<double>("autoglm.inter_token_latency", "s", "Time between consecutive generated tokens of a request.");
        _e2eLatency = _meter.CreateHistogram<double>("autoglm.e2e_request_latency", "s", "Time from submission to the final chunk.");
        _queueTime = _meter.CreateHistogram<double>("autoglm.request_queue_time", "s", "Time a request waited for admission.");
        _prefillTime = _meter.CreateHistogram<double>("autoglm.prefill_time", "s", "Duration of one prefill forward (one chunk).");
        _decodeStepTime = _meter.CreateHistogram<double>("autoglm.decode_step_time", "s", "Duration of one batched decode forward.");
        _batchSize = _meter.CreateHistogram<int>("autoglm.batch_size", "{request}", "Rows in a decode step.");
        _promptTokens = _meter.CreateCounter<long>("autoglm.prompt_tokens", "{token}", "Prompt tokens of admitted requests.");
        _computedPromptTokens = _meter.CreateCounter<long>("autoglm.computed_prompt_tokens", "{token}", "Prompt tokens prefilled (not reused from cache).");
        _generationTokens = _meter.CreateCounter<long>("autoglm.generation_tokens", "{token}", "Generated tokens.");
        _prefixCacheQueries = _meter.CreateCounter<long>("autoglm.prefix_cache_queries", "{token}", "Prompt tokens looked up in the prefix cache.");
        _prefixCacheHits = _meter.CreateCounter<long>("autoglm.prefix_cache_hits", "{token}", "Prompt tokens found in the prefix cache.");
        _requests = _meter.CreateCounter<long>("autoglm.requests", "{request}", "Finished requests by finish reason.");
        _queueTimeouts = _meter.CreateCounter<long>("autoglm.request_queue_timeouts", "{request}",
            "Requests refused as overloaded after waiting longer than the queue wait limit without being admitted.");
        _meter.CreateObservableGauge("autoglm.kv_cache_used_bytes", () => gauges().KvUsedBytes, "By", "KV bytes held by cached sequences.");
        _meter.CreateObservableGauge("autoglm.kv_cache_budget_bytes", () => gauges().KvBudgetBytes, "By", "KV budget.");
        _meter.CreateObservableGauge("autoglm.kv_cache_usage", () => gauges().KvUsage, "1", "Used / budget.");
        _meter.CreateObservableGauge("autoglm.kv_cache_sequences", () => gauges().Sequences, "{sequence}", "Sequences with a KV handle.");
        _meter.CreateObservableCounter("autoglm.kv_cache_evictions", () => gauges().Evictions, "{sequence}", "Idle sequences evicted to make room.");
        _meter.CreateObservableGauge("autoglm.num_requests_running", () => gauges().Running, "{request}", "Requests prefilling or decoding.");
        _meter.CreateObservableGauge("autoglm.num_requests_waiting", () => gauges().Waiting, "{request}", "Requests waiting for admission.");

        var tier = restoreTier ?? (static () => RestoreTierStats.Off);
        _restoreTime = _meter.CreateHistogram<double>("autoglm.restore_tier.restore_time", "s",
            "Time to restore an evicted sequence's KV from the restore tier at its next turn (read and import), by source.");
        _meter.CreateObservableCounter("autoglm.restore_tier.spills", () => tier().Spills, "{sequence}", "Evicted sequences whose KV the restore tier stored.");
        _meter.CreateObservableCounter("autoglm.restore_tier.spill_skips", () => SpillSkips(tier()), "{sequence}",
            "Evicted sequences the restore tier did not store, by reason (too_large, backlog, failed).");
        _meter.CreateObservableCounter("autoglm.restore_tier.evictions", () => tier().Evictions, "{sequence}", "Entries the restore tier dropped, oldest first, for newer spills.");
        _meter.CreateObservableCounter("autoglm.restore_tier.hits", () => tier().Hits, "{sequence}", "Turns of evicted sequences restored from the tier.");
        _meter.CreateObservableCounter("autoglm.restore_tier.restored_tokens", () => tier().RestoredTokens, "{token}", "Tokens restored from the tier (reported as cached).");
        _meter.CreateObservableCounter("autoglm.restore_tier.misses", () => Misses(tier()), "{sequence}",
            "Turns of evicted sequences that recomputed, by reason (absent, mismatch, refused).");
        _meter.CreateObservableGauge("autoglm.restore_tier.bytes", () => tier().BytesHeld, "By", "KV bytes the restore tier holds.");
        _meter.CreateObservableGauge("autoglm.restore_tier.capacity_bytes", () => tier().CapacityBytes, "By", "The restore tier's bound.");
        _meter.CreateObservableGauge("autoglm.restore_tier.entries", () => tier().Entries, "{sequence}", "Sequences the restore tier holds.");
    }

    private static Measurement<long>[] SpillSkips(RestoreTierStats s) =>
    [
        new(s.SkippedTooLarge, new KeyValuePair<string, object?>("reason", "too_large")),
        new(s.SkippedBacklog, new KeyValuePair<string, object?>("reason", "backlog")),
        new(s.Failures, new KeyValuePair<string, object?>("reason", "failed")),
    ];

    private static Measurement<long>[] Misses(RestoreTierStats s) =>
    [
        new(s.MissesAbsent, new KeyValuePair<string, object?>("reason", "absent")),
        new(s.MissesMismatch, new KeyValuePair<string, object?>("reason", "mismatch")),
        new(s.MissesRefused, new KeyValuePair<string, object?>("reason", "refused")),
    ];

    /// <summary>A turn restored its cache from the tier in <paramref name="seconds"/>, read from disk or host memory.</summary>
    public void Restored(double seconds, bool fromDisk) =>
        _restoreTime.Record(seconds, new KeyValuePair<string, object?>("source", fromDisk ? "disk" : "memory"));

    /// <summary>This engine's meter (several engines in one process each have their own instance).</summary>
    public Meter Meter => _meter;

    public void Admitted(int promptTokens, int cachedTokens, double queueSeconds)
    {
        _promptTokens.Add(promptTokens);
        _prefixCacheQueries.Add(promptTokens);
        _prefixCacheHits.Add(cachedTokens);
        _computedPromptTokens.Add(promptTokens - cachedTokens);
        _queueTime.Record(queueSeconds);
    }

    public void FirstToken(double seconds) => _timeToFirstToken.Record(seconds);

    public void Token(double secondsSincePrevious)
    {
        _generationTokens.Add(1);
        if (secondsSincePrevious >= 0)
        {
            _interTokenLatency.Record(secondsSincePrevious);
        }
    }

    public void Prefill(double seconds) => _prefillTime.Record(seconds);

    public void DecodeStep(double seconds, int batch)
    {
        _decodeStepTime.Record(seconds);
        _batchSize.Record(batch);
    }

    public void Finished(string reason, double e2eSeconds)
    {
        _requests.Add(1, new KeyValuePair<string, object?>("finish_reason", reason));
        _e2eLatency.Record(e2eSeconds);
    }

    public void QueueTimedOut() => _queueTimeouts.Add(1);

    public void Dispose() => _meter.Dispose();
}
