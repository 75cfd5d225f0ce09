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
    /// When ONNX Runtime's intra-op threads spin (<see cref="Runtime.IntraOpSpinning"/>): within a forward only, by
    /// default. Threads that sleep between a forward's parallel sections lose a small model's steps to wake-ups
    /// (the default model through the cluster: ~1.2× the output at C = 1 with spinning); threads that go on
    /// spinning after it returns take the cores from the scheduler, the token streams and Orleans.
    /// </summary>
    public IntraOpSpinning IntraOpSpinning { get; init; } = DefaultIntraOpSpinning;

    /// <summary>
    /// How long a spinning thread polls for work before it sleeps. ONNX Runtime's own iteration count spins far longer,
    /// and its threads then starve Orleans' inside a forward (~5 % less output at C = 16 through the cluster than not
    /// spinning at all); 100 µs keeps the C = 1 gain without that loss. Zero: ONNX Runtime's own count.
    /// </summary>
    public TimeSpan IntraOpSpinDuration { get; init; } = DefaultIntraOpSpinDuration;

    /// <summary>The default <see cref="IntraOpSpinning"/>: within a forward.</summary>
    public const IntraOpSpinning DefaultIntraOpSpinning = Runtime.IntraOpSpinning.WithinRun;

    /// <summary>The default <see cref="IntraOpSpinDuration"/>: 100 µs.</summary>
    public static readonly TimeSpan DefaultIntraOpSpinDuration = TimeSpan.FromMicroseconds(100);

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

    /// <summary>
    /// Where the KV of evicted sequences goes (the restore tier): <see cref="Engine.RestoreTierKind.Auto"/> keeps it
    /// in host memory when the KV lives on a GPU and in files on local disk otherwise. The next turn of an evicted
    /// sequence restores its cache from there instead of recomputing it.
    /// </summary>
    public RestoreTierKind RestoreTierKind { get; init; } = RestoreTierKind.Auto;

    /// <summary>
    /// The restore tier's bound in bytes of KV (file headers not counted); 0 turns it off. The default,
    /// <see cref="DefaultRestoreTierBytes"/> (4 GiB), is vLLM's swap space per GPU: a fixed bound, so the tier's
    /// host memory or disk does not grow with the machine or the KV budget, small next to a GPU server's host memory or
    /// any local disk, and still ~700,000 tokens of tiny-chat's KV (~100,000 of a 9B model's at ~40 KB a token).
    /// </summary>
    public long RestoreTierBytes { get; init; } = DefaultRestoreTierBytes;

    /// <summary>
    /// The folder of the disk tier's files; each engine writes into a folder of its own inside it (deleted when the
    /// engine is disposed) and deletes the folders of engines whose process is gone. Null: the temp folder's
    /// <c>autoglm-restore-tier</c>.
    /// </summary>
    public string? RestoreTierPath { get; init; }

    /// <summary>The default <see cref="RestoreTierBytes"/>: 4 GiB.</summary>
    public const long DefaultRestoreTierBytes = 4L << 30;

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(ModelPath);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxBatchSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxTokensPerStep);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxQueueLength);
        ArgumentOutOfRangeException.ThrowIfNegative(KvBudgetBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(RestoreTierBytes);
        if (!Enum.IsDefined(RestoreTierKind))
        {
            throw new ArgumentOutOfRangeException(nameof(RestoreTierKind), RestoreTierKind, "must be Auto, Host, Disk or Off");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(IntraOpThreads);
        if (!Enum.IsDefined(IntraOpSpinning))
        {
            throw new ArgumentOutOfRangeException(nameof(IntraOpSpinning), IntraOpSpinning, "must be Off, WithinRun or Always");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(IntraOpSpinDuration, TimeSpan.Zero);
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
