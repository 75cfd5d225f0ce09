using AutoGlm.Orleans.Inference.KvCache;

namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// A point-in-time view of the engine: queue, batch, KV pool, and where the scheduler's decode time went
/// (forwards vs sampling and streaming the tokens), for profiling the scheduler's overhead.
/// </summary>
public sealed record EngineStats(int Waiting, int Running, long Steps, long Repacks, KvCachePoolStats Kv)
{
    public double DecodeForwardSeconds { get; init; }

    public double DecodeEmitSeconds { get; init; }

    /// <summary>Tokens sampled from decode forwards so far (each prefill's first token not counted).</summary>
    public long DecodedTokens { get; init; }

    /// <summary>
    /// Bytes the scheduler's thread has allocated so far (GC.GetAllocatedBytesForCurrentThread, as of its last step):
    /// the difference over a window of pure decoding, divided by <see cref="DecodedTokens"/>'s, is what one decoded
    /// token costs the garbage collector.
    /// </summary>
    public long SchedulerAllocatedBytes { get; init; }

    /// <summary>Where the KV lives: "Cpu" (host memory) or "Cuda" (device memory).</summary>
    public string KvDevice { get; init; } = "Cpu";

    /// <summary>KV bytes moved between buffers on <see cref="KvDevice"/> (rows joining or leaving a batch, growth).</summary>
    public long KvBytesCopied { get; init; }

    /// <summary>KV bytes allocated on <see cref="KvDevice"/> so far.</summary>
    public long KvBytesAllocated { get; init; }

    /// <summary>The restore tier of evicted KV: what it holds and what it did (<see cref="RestoreTierStats.Off"/> without one).</summary>
    public RestoreTierStats RestoreTier { get; init; } = RestoreTierStats.Off;

    /// <summary>True when the graph writes KV in place (shared past/present buffers).</summary>
    public bool SharedKvBuffers { get; init; }
}
