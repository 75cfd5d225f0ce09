using AutoGlm.Orleans.Inference.Runtime;

namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>Configuration of one engine (one per silo).</summary>
public sealed record EngineOptions
{
    /// <summary>The model folder (model.json, or an Optimum / onnxruntime-genai export).</summary>
    public required string ModelPath { get; init; }

    /// <summary>
    /// A named other graph of the model's weights (model.json "variants", e.g. "optimum" for the Concat layout);
    /// null serves the folder's default graph.
    /// </summary>
    public string? ModelVariant { get; init; }

    public ExecutionDevice Device { get; init; } = ExecutionDevice.Cpu;

    /// <summary>ONNX Runtime intra-op threads; all cores when 0.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Whether ONNX Runtime's intra-op threads spin between parallel sections. Spinning lowers a lone forward's
    /// latency on idle cores, but a serving process also runs the scheduler, the token streams' consumers and
    /// Orleans: on a 2-core machine batch-8 decode through the scheduler was ~20% faster without it.
    /// </summary>
    public bool IntraOpSpinning { get; init; }

    /// <summary>Rows in one decode forward (running generations).</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Tokens one step may compute: decode rows plus prefill chunks (chunked prefill).</summary>
    public int MaxTokensPerStep { get; init; } = 256;

    /// <summary>Requests waiting for admission; one more is refused with <see cref="EngineOverloadedException"/>.</summary>
    public int MaxQueueLength { get; init; } = 256;

    /// <summary>
    /// How long a request may wait for admission: one still waiting after this is taken out of the queue and ends
    /// with <see cref="EngineOverloadedException"/>, so a caller gets a retryable error instead of hanging behind
    /// an engine that cannot keep up. Admitted requests are never cut by it. Zero or
    /// <see cref="Timeout.InfiniteTimeSpan"/>: no limit.
    /// </summary>
    public TimeSpan MaxQueueWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>KV budget in bytes; when 0, <see cref="KvBudgetFraction"/> of the machine's memory.</summary>
    public long KvBudgetBytes { get; init; }

    public double KvBudgetFraction { get; init; } = 0.25;

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(ModelPath);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTokensPerStep);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxQueueLength);
        ArgumentOutOfRangeException.ThrowIfNegative(KvBudgetBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpThreads);
        if (MaxQueueWait < TimeSpan.Zero && MaxQueueWait != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxQueueWait), MaxQueueWait, "must be positive, zero or Timeout.InfiniteTimeSpan (no limit)");
        }

        if (KvBudgetFraction is <= 0 or > 1)
        {
            throw new ArgumentOutOfRangeException(nameof(KvBudgetFraction), KvBudgetFraction, "must be in (0, 1]");
        }

        if (MaxTokensPerStep < MaxBatchSize)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxTokensPerStep), MaxTokensPerStep,
                $"must be at least MaxBatchSize ({MaxBatchSize}) so every decode row fits in a step");
        }
    }
}
