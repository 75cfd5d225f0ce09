namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>The engine's waiting queue is full: retry later (HTTP 429/503).</summary>
public sealed class EngineOverloadedException(int queueLength)
    : Exception($"the inference engine is overloaded: {queueLength} requests are already waiting")
{
    public int QueueLength { get; } = queueLength;
}
