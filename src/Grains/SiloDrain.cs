using System.Collections.Concurrent;
using AutoGlm.Orleans.Grains.Turns;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// This silo's shutdown state, shared by its grains and its HTTP surface: once draining, conversations refuse new
/// turns (they move to other silos) and placement skips the silo; running turns are counted so the shutdown can
/// wait for them, and interrupted with an explicit error when its deadline passes.
/// </summary>
public sealed class SiloDrain
{
    private readonly ConcurrentDictionary<TurnRun, byte> _turns = new();
    private readonly ConcurrentDictionary<object, Action<Exception>> _requests = new();
    private volatile bool _draining;

    public bool IsDraining => _draining;

    /// <summary>Turns generating on this silo plus HTTP turns this silo serves (their grains may be elsewhere).</summary>
    public int Running => _turns.Count + _requests.Count;

    public void Begin() => _draining = true;

    public void TurnStarted(TurnRun turn) => _turns.TryAdd(turn, 0);

    public void TurnEnded(TurnRun turn) => _turns.TryRemove(turn, out _);

    /// <summary>Tracks one HTTP request that serves a turn; <paramref name="interrupt"/> ends it with an error event.</summary>
    public IDisposable TrackRequest(Action<Exception> interrupt)
    {
        var key = new object();
        _requests[key] = interrupt;
        return new Registration(this, key);
    }

    /// <summary>Waits until nothing runs, or <paramref name="deadline"/> passes; true when everything finished.</summary>
    public async Task<bool> WaitForRunningAsync(TimeSpan deadline, CancellationToken cancellationToken)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (Running > 0)
        {
            if (watch.Elapsed >= deadline)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Ends everything still running with <paramref name="reason"/> (the deadline passed).</summary>
    public void InterruptAll(Exception reason)
    {
        foreach (var turn in _turns.Keys)
        {
            turn.Interrupt(reason);
        }

        foreach (var interrupt in _requests.Values)
        {
            interrupt(reason);
        }
    }

    private sealed class Registration(SiloDrain drain, object key) : IDisposable
    {
        public void Dispose() => drain._requests.TryRemove(key, out _);
    }
}
