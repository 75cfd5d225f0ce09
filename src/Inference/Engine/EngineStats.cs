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
}
