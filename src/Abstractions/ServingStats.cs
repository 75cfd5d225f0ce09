namespace AutoGlm.Orleans.Abstractions;

/// <summary>
/// What a silo serves, for an operator's page: its batcher's queue and KV (<see cref="BatcherStats"/>) plus the rates,
/// latencies and conversation counters its engine and conversations measured. Counters run from the silo's start;
/// rates and percentiles cover a recent window (<see cref="RateWindowSeconds"/>, <see cref="LatencyWindowSeconds"/>).
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.serving-stats.v1")]
public sealed record ServingStats
{
    [Id(0)] public BatcherStats Batcher { get; init; } = new();

    /// <summary>The silo is draining: its conversations are leaving with their KV.</summary>
    [Id(1)] public bool Draining { get; init; }

    /// <summary>KV bytes held in the engine's restore tier; null when the engine has no such tier.</summary>
    [Id(2)] public long? RestoreUsedBytes { get; init; }

    /// <summary>The restore tier's budget; null when the engine has no such tier.</summary>
    [Id(3)] public long? RestoreBudgetBytes { get; init; }

    /// <summary>Generated tokens per second over the last <see cref="RateWindowSeconds"/> whole seconds.</summary>
    [Id(4)] public double OutputTokensPerSecond { get; init; }

    [Id(5)] public double RateWindowSeconds { get; init; }

    /// <summary>Generated tokens since the silo started.</summary>
    [Id(6)] public long OutputTokens { get; init; }

    /// <summary>Prompt tokens of admitted requests since the silo started.</summary>
    [Id(7)] public long PromptTokens { get; init; }

    /// <summary>Of <see cref="PromptTokens"/>, those whose KV was cached (not prefilled).</summary>
    [Id(8)] public long CachedPromptTokens { get; init; }

    [Id(9)] public LatencySummary TimeToFirstToken { get; init; } = new();

    [Id(10)] public LatencySummary InterTokenLatency { get; init; } = new();

    /// <summary>The age past which a latency sample leaves the percentiles.</summary>
    [Id(11)] public double LatencyWindowSeconds { get; init; }

    /// <summary>Conversation turns committed.</summary>
    [Id(12)] public long Turns { get; init; }

    /// <summary>Tokens conversations' turns found cached.</summary>
    [Id(13)] public long ConversationCachedTokens { get; init; }

    /// <summary>History tokens prefilled again because their KV was lost.</summary>
    [Id(14)] public long RecomputedTokens { get; init; }

    /// <summary>Conversations whose KV moved with them off this silo (a drain).</summary>
    [Id(15)] public long KvMoves { get; init; }

    /// <summary>History tokens whose KV moved instead of being recomputed elsewhere.</summary>
    [Id(16)] public long RecomputeAvoidedTokens { get; init; }

    /// <summary>Tokens whose KV was copied from a shared prefix or a fork's parent instead of computed.</summary>
    [Id(17)] public long SharedTokens { get; init; }

    /// <summary>Cached / prompt tokens since the silo started; null before the first request.</summary>
    public double? CacheHitRate => PromptTokens == 0 ? null : (double)CachedPromptTokens / PromptTokens;
}

/// <summary>Percentiles of a latency over its recent samples (seconds); null without samples.</summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.latency-summary.v1")]
public sealed record LatencySummary
{
    [Id(0)] public int Samples { get; init; }

    [Id(1)] public double? P50Seconds { get; init; }

    [Id(2)] public double? P99Seconds { get; init; }
}
