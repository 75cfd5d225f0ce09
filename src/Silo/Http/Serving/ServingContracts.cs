using System.Text.Json.Serialization;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http.Serving;

/// <summary>GET /dashboard/serving/data: every active silo's serving figures, gathered when asked.</summary>
public sealed record ServingData(DateTimeOffset CollectedAt, IReadOnlyList<ServingSilo> Silos);

/// <summary>One silo: its address (the parsable form) and its figures, or why it did not answer.</summary>
public sealed record ServingSilo(string Address, string? Error, ServingFigures? Figures);

/// <summary>
/// A silo's figures, flat and snake_case on the wire. Counters (tokens, turns, moves) run from the silo's start;
/// <c>output_tokens_per_second</c> is a mean over the last <c>rate_window_seconds</c>, latency percentiles cover the
/// samples of the last <c>latency_window_seconds</c> (null without any). The restore tier's fields are left out when
/// the engine has none.
/// </summary>
public sealed record ServingFigures
{
    public required string Model { get; init; }
    public bool Draining { get; init; }
    public int Conversations { get; init; }
    public int Sequences { get; init; }
    public long KvUsedBytes { get; init; }
    public long KvReservedBytes { get; init; }
    public long KvBudgetBytes { get; init; }
    public long KvEvictions { get; init; }
    public long? RestoreUsedBytes { get; init; }
    public long? RestoreBudgetBytes { get; init; }
    public int Running { get; init; }
    public int Waiting { get; init; }
    public int MaxBatchSize { get; init; }
    public double OutputTokensPerSecond { get; init; }
    public double RateWindowSeconds { get; init; }
    public long OutputTokens { get; init; }
    public double? TtftP50Seconds { get; init; }
    public double? TtftP99Seconds { get; init; }
    public int TtftSamples { get; init; }
    public double? ItlP50Seconds { get; init; }
    public double? ItlP99Seconds { get; init; }
    public int ItlSamples { get; init; }
    public double LatencyWindowSeconds { get; init; }
    public long PromptTokens { get; init; }
    public long CachedPromptTokens { get; init; }
    public double? CacheHitRate { get; init; }
    public long Turns { get; init; }
    public long KvMoves { get; init; }
    public long RecomputeAvoidedTokens { get; init; }
    public long RecomputedTokens { get; init; }
    public long SharedTokens { get; init; }

    public static ServingFigures From(ServingStats stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var batcher = stats.Batcher;
        return new ServingFigures
        {
            Model = batcher.Model,
            Draining = stats.Draining,
            Conversations = batcher.Conversations,
            Sequences = batcher.Sequences,
            KvUsedBytes = batcher.KvUsedBytes,
            KvReservedBytes = batcher.KvReservedBytes,
            KvBudgetBytes = batcher.KvBudgetBytes,
            KvEvictions = batcher.Evictions,
            RestoreUsedBytes = stats.RestoreUsedBytes,
            RestoreBudgetBytes = stats.RestoreBudgetBytes,
            Running = batcher.Running,
            Waiting = batcher.Waiting,
            MaxBatchSize = batcher.MaxBatchSize,
            OutputTokensPerSecond = Math.Round(stats.OutputTokensPerSecond, 2),
            RateWindowSeconds = stats.RateWindowSeconds,
            OutputTokens = stats.OutputTokens,
            TtftP50Seconds = stats.TimeToFirstToken.P50Seconds,
            TtftP99Seconds = stats.TimeToFirstToken.P99Seconds,
            TtftSamples = stats.TimeToFirstToken.Samples,
            ItlP50Seconds = stats.InterTokenLatency.P50Seconds,
            ItlP99Seconds = stats.InterTokenLatency.P99Seconds,
            ItlSamples = stats.InterTokenLatency.Samples,
            LatencyWindowSeconds = stats.LatencyWindowSeconds,
            PromptTokens = stats.PromptTokens,
            CachedPromptTokens = stats.CachedPromptTokens,
            CacheHitRate = stats.CacheHitRate,
            Turns = stats.Turns,
            KvMoves = stats.KvMoves,
            RecomputeAvoidedTokens = stats.RecomputeAvoidedTokens,
            RecomputedTokens = stats.RecomputedTokens,
            SharedTokens = stats.SharedTokens,
        };
    }
}

/// <summary>Source-generated JSON of the serving page's data: snake_case, nulls omitted (as the HTTP API's).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ServingData))]
public sealed partial class ServingJsonContext : JsonSerializerContext;
