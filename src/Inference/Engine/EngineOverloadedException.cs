namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// The engine cannot take the request now: its waiting queue is full (thrown by Submit), or the request waited
/// longer than <see cref="EngineOptions.MaxQueueWait"/> without being admitted (ends its stream). Either way
/// nothing of it ran, so a retry is safe (HTTP 503 with Retry-After).
/// </summary>
public sealed class EngineOverloadedException : Exception
{
    public EngineOverloadedException(int queueLength)
        : base($"the inference engine is overloaded: {queueLength} requests are already waiting")
    {
        QueueLength = queueLength;
    }

    public EngineOverloadedException(TimeSpan maxQueueWait, int queueLength)
        : base($"the inference engine is overloaded: the request was not admitted within {(long)maxQueueWait.TotalMilliseconds} ms "
            + $"({queueLength} requests still waiting); retry later")
    {
        QueueLength = queueLength;
        QueueWait = maxQueueWait;
    }

    /// <summary>Requests waiting when this one was refused.</summary>
    public int QueueLength { get; }

    /// <summary>The wait limit this request ran out of; null when it was refused because the queue was full.</summary>
    public TimeSpan? QueueWait { get; }
}
