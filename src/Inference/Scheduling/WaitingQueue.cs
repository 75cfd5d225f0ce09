using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The requests waiting for admission, first in first out, and the engine's admission control over them (as in
/// vLLM's request_queue.py, the policy lives with the queue, not in the scheduler): a bounded length, so one more
/// is refused at once, and a bounded wait, so a request the engine cannot start in time is handed back to be
/// refused instead of hanging. Callers add from any thread; only the scheduler's thread takes requests out.
/// </summary>
internal sealed class WaitingQueue
{
    private readonly object _lock = new();
    private readonly LinkedList<ActiveRequest> _requests = new();
    private readonly int _maxLength;
    private readonly long _maxWaitTicks;
    private bool _closed;

    public WaitingQueue(int maxLength, TimeSpan maxWait)
    {
        _maxLength = maxLength;
        MaxWait = maxWait;
        // Zero and Timeout.InfiniteTimeSpan (negative) both mean no limit; a limit beyond what ticks hold is none too.
        _maxWaitTicks = maxWait <= TimeSpan.Zero || maxWait.TotalSeconds * Stopwatch.Frequency >= long.MaxValue
            ? long.MaxValue
            : Math.Max(1, (long)(maxWait.TotalSeconds * Stopwatch.Frequency));
    }

    public TimeSpan MaxWait { get; }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _requests.Count;
            }
        }
    }

    /// <summary>
    /// Queues a request; false once the queue is closed (the engine stops). A full queue throws
    /// <see cref="EngineOverloadedException"/>: refused at once, never grown.
    /// </summary>
    public bool TryAdd(ActiveRequest request)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return false;
            }

            if (_requests.Count >= _maxLength)
            {
                throw new EngineOverloadedException(_requests.Count);
            }

            request.QueuedTimestamp = Stopwatch.GetTimestamp();
            _requests.AddLast(request);
            return true;
        }
    }

    /// <summary>The oldest request, left in the queue: the scheduler takes it with <see cref="RemoveFirst"/> once admitted.</summary>
    public ActiveRequest? Peek()
    {
        lock (_lock)
        {
            return _requests.First?.Value;
        }
    }

    public void RemoveFirst()
    {
        lock (_lock)
        {
            _requests.RemoveFirst();
        }
    }

    /// <summary>Takes out every request whose caller cancelled.</summary>
    public IReadOnlyList<ActiveRequest> TakeCancelled()
    {
        List<ActiveRequest>? taken = null;
        lock (_lock)
        {
            for (var node = _requests.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.Cancellation.IsCancellationRequested)
                {
                    _requests.Remove(node);
                    (taken ??= []).Add(node.Value);
                }

                node = next;
            }
        }

        return taken ?? (IReadOnlyList<ActiveRequest>)[];
    }

    /// <summary>
    /// Takes out every request that has waited longer than <see cref="MaxWait"/>. The queue is in the order of
    /// <see cref="ActiveRequest.QueuedTimestamp"/>, so the expired ones are at its front and this stops at the
    /// first that is not: its cost is the number expired, not the queue's length.
    /// </summary>
    public IReadOnlyList<ActiveRequest> TakeExpired(long now)
    {
        if (_maxWaitTicks == long.MaxValue)
        {
            return [];
        }

        List<ActiveRequest>? taken = null;
        lock (_lock)
        {
            while (_requests.First is { } first && now - first.Value.QueuedTimestamp > _maxWaitTicks)
            {
                _requests.RemoveFirst();
                (taken ??= []).Add(first.Value);
            }
        }

        return taken ?? (IReadOnlyList<ActiveRequest>)[];
    }

    /// <summary>Refuses every later <see cref="TryAdd"/>, so <see cref="TakeAll"/> after it sees every request ever queued.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
        }
    }

    public IReadOnlyList<ActiveRequest> TakeAll()
    {
        lock (_lock)
        {
            var taken = _requests.ToArray();
            _requests.Clear();
            return taken;
        }
    }
}
