namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// Live signals from the lanes for the fault script: attempts in flight per endpoint, "a stream is sending text on
/// endpoint k" (to signal a silo mid-stream), and the start time of each lane's latest acknowledged turn (to wait
/// for recovery). Thread-safe; the ledger itself is read only after the load.
/// </summary>
public sealed class LoadMonitor
{
    private readonly object _gate = new();
    private readonly int[] _inFlight;
    private readonly long[] _lastAcknowledgedStart;
    private readonly List<(int Endpoint, TaskCompletionSource Signal)> _streamWaiters = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<AttemptRecord, TurnRecord> _attempts = new();

    public LoadMonitor(int endpoints, int lanes)
    {
        _inFlight = new int[endpoints];
        _lastAcknowledgedStart = new long[lanes];
        Array.Fill(_lastAcknowledgedStart, long.MinValue);
    }

    public void AttemptStarted(TurnRecord turn, AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        _attempts[attempt] = turn;
        Interlocked.Increment(ref _inFlight[attempt.Endpoint]);
    }

    public void AttemptEnded(AttemptRecord attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        _attempts.TryRemove(attempt, out _);
        Interlocked.Decrement(ref _inFlight[attempt.Endpoint]);
    }

    public int InFlight(int endpoint) => Volatile.Read(ref _inFlight[endpoint]);

    /// <summary>A streaming attempt on <paramref name="endpoint"/> received text (it is mid-stream now).</summary>
    public void StreamText(int endpoint)
    {
        List<TaskCompletionSource> ready;
        lock (_gate)
        {
            ready = [.. _streamWaiters.Where(w => w.Endpoint == endpoint).Select(w => w.Signal)];
            _streamWaiters.RemoveAll(w => w.Endpoint == endpoint);
        }

        foreach (var signal in ready)
        {
            signal.TrySetResult();
        }
    }

    public void Acknowledged(int lane, TimeSpan turnStarted)
    {
        var ticks = turnStarted.Ticks;
        long seen;
        do
        {
            seen = Volatile.Read(ref _lastAcknowledgedStart[lane]);
        }
        while (seen < ticks && Interlocked.CompareExchange(ref _lastAcknowledgedStart[lane], ticks, seen) != seen);
    }

    /// <summary>True when a stream on <paramref name="endpoint"/> sent text within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForStreamTextAsync(int endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _streamWaiters.Add((endpoint, signal));
        }

        var finished = await Task.WhenAny(signal.Task, Task.Delay(timeout, cancellationToken));
        lock (_gate)
        {
            _streamWaiters.RemoveAll(w => w.Signal == signal);
        }

        return finished == signal.Task;
    }

    /// <summary>
    /// The turn of an attempt in flight on <paramref name="endpoint"/> that <paramref name="match"/> accepts, as soon as
    /// there is one within <paramref name="timeout"/>; null otherwise.
    /// </summary>
    public async Task<TurnRecord?> WaitForInFlightAsync(int endpoint, Func<TurnRecord, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = _attempts.FirstOrDefault(a => a.Key.Endpoint == endpoint && match(a.Value)).Value;
            if (found is not null)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                return null;
            }

            await Task.Delay(2, cancellationToken);
        }
    }

    /// <summary>True when an attempt was in flight on <paramref name="endpoint"/> within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForInFlightAsync(int endpoint, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (InFlight(endpoint) == 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(5, cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// Waits until every lane has an acknowledged turn that began at or after <paramref name="since"/>; the clock
    /// time it happened, or null when <paramref name="cap"/> passed first.
    /// </summary>
    public async Task<TimeSpan?> WaitRecoveredAsync(RunClock clock, TimeSpan since, TimeSpan cap, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(clock);
        while (clock.Now - since < cap)
        {
            if (AllAcknowledgedSince(since))
            {
                return clock.Now;
            }

            await Task.Delay(25, cancellationToken);
        }

        return null;
    }

    private bool AllAcknowledgedSince(TimeSpan since)
    {
        for (var lane = 0; lane < _lastAcknowledgedStart.Length; lane++)
        {
            if (Volatile.Read(ref _lastAcknowledgedStart[lane]) < since.Ticks)
            {
                return false;
            }
        }

        return true;
    }
}
