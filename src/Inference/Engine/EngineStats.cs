using AutoGlm.Orleans.Inference.KvCache;

namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>A point-in-time view of the engine: queue, batch, KV pool.</summary>
public sealed record EngineStats(int Waiting, int Running, long Steps, long Repacks, KvCachePoolStats Kv);
