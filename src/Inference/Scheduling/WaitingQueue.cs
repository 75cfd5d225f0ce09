using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The requests waiting for admission and the policy over them (as in vLLM's request_queue.py, the policy lives
/// with the queue, not in the scheduler): a bounded length, so one more is refused at once; a bounded wait, so a
/// request the engine cannot start in time is handed back to be refused instead of hanging; and the admission
/// order: oldest first, but a request that does not fit yet (its KV reservation or its staged restore) does not
/// hold back younger ones that do. A blocked request may be passed by at most <see cref="MaxOvertakes"/> admissions;
/// from then on nothing behind it is admitted until it fits, so a large request is delayed by a bounded amount of
/// work, never starved (and <see cref="MaxWait"/> bounds its wait in any case). Callers add from any thread; only
/// the scheduler's thread takes requests out.
/// </summary>
internal sealed class WaitingQueue
{
    private readonly object _lock = new();
    private readonly LinkedList<ActiveRequest> _requests = new();
    private readonly List<ActiveRequest> _blocked = [];
    private readonly int _maxLength;
    private readonly long _maxWaitTicks;
    private bool _closed;

    /// <param name="maxOvertakes">How many younger requests may be admitted ahead of one that does not fit.</param>
    public WaitingQueue(int maxLength, TimeSpan maxWait, int maxOvertakes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxOvertakes);
        _maxLength = maxLength;
        MaxWait = maxWait;
        MaxOvertakes = maxOvertakes;
        // Zero and Timeout.InfiniteTimeSpan (negative) both mean no limit; a limit beyond what ticks hold is none too.
        _maxWaitTicks = maxWait <= TimeSpan.Zero || maxWait.TotalSeconds * Stopwatch.Frequency >= long.MaxValue
            ? long.MaxValue
            : Math.Max(1, (long)(maxWait.TotalSeconds * Stopwatch.Frequency));
    }

    public TimeSpan MaxWait { get; }

    public int MaxOvertakes { get; }

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
            request.QueueNode = _requests.AddLast(request);
            return true;
        }
    }

    /// <summary>The oldest request, left in the queue.</summary>
    public ActiveRequest? Peek()
    {
        lock (_lock)
        {
            return _requests.First?.Value;
        }
    }

    /// <summary>
    /// Offers the waiting requests to <paramref name="tryAdmit"/> in admission order: oldest first, past blocked ones
    /// within the bound. Admitted and refused ones leave the queue. The pass ends at the end of the queue, when
    /// <paramref name="tryAdmit"/> answers <see cref="Admission.Full"/>, or at a blocked request that was passed
    /// <see cref="MaxOvertakes"/> times already: first come, first served again until it fits.
    /// </summary>
    public void Admit(Func<ActiveRequest, Admission> tryAdmit)
    {
        _blocked.Clear();
        for (var request = Peek(); request is not null;)
        {
            var next = After(request);
            switch (tryAdmit(request))
            {
                case Admission.Admitted:
                    Remove(request);
                    var exhausted = false;
                    foreach (var blocked in _blocked)
                    {
                        exhausted |= ++blocked.Overtaken >= MaxOvertakes;
                    }

                    if (exhausted)
                    {
                        return;
                    }

                    break;
                case Admission.Refused:
                    Remove(request);
                    break;
                case Admission.Blocked:
                    if (request.Overtaken >= MaxOvertakes)
                    {
                        return;
                    }

                    _blocked.Add(request);
                    break;
                default:
                    return;
            }

            request = next;
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
                    RemoveLocked(node.Value);
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
                RemoveLocked(first.Value);
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
            foreach (var request in taken)
            {
                RemoveLocked(request);
            }

            return taken;
        }
    }

    private ActiveRequest? After(ActiveRequest request)
    {
        lock (_lock)
        {
            return request.QueueNode?.Next?.Value;
        }
    }

    private void Remove(ActiveRequest request)
    {
        lock (_lock)
        {
            RemoveLocked(request);
        }
    }

    private void RemoveLocked(ActiveRequest request)
    {
        if (request.QueueNode is { } node)
        {
            _requests.Remove(node);
            request.QueueNode = null;
        }
    }
}
