using System.Diagnostics;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// Progress of a run on stderr (stdout carries the results): one line rewritten in place on a terminal, a line
/// every few seconds when stderr is a file or a pipe, so logs stay readable.
/// </summary>
public sealed class ProgressDisplay : IDisposable
{
    private readonly string _label;
    private readonly int _totalTurns;
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly bool _inPlace = !Console.IsErrorRedirected;
    private readonly Timer _timer;
    private int _turns;
    private int _errors;
    private long _tokens;

    public ProgressDisplay(string label, int totalTurns)
    {
        _label = label;
        _totalTurns = totalTurns;
        var period = TimeSpan.FromSeconds(_inPlace ? 0.5 : 5);
        _timer = new Timer(_ => Write(final: false), null, period, period);
    }

    public void TurnDone(int outputTokens, bool failed)
    {
        Interlocked.Increment(ref _turns);
        Interlocked.Add(ref _tokens, outputTokens);
        if (failed)
        {
            Interlocked.Increment(ref _errors);
        }
    }

    private void Write(bool final)
    {
        var elapsed = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        var turns = Volatile.Read(ref _turns);
        var tokens = Interlocked.Read(ref _tokens);
        var line = $"{_label}: {turns}/{_totalTurns} turns  {tokens} tokens  {tokens / Math.Max(elapsed, 1e-9),7:F1} tok/s  "
            + $"{elapsed,6:F1} s" + (_errors > 0 ? $"  {_errors} errors" : "");
        lock (_timer)
        {
            if (_inPlace)
            {
                Console.Error.Write("\r" + line.PadRight(100) + (final ? Environment.NewLine : ""));
            }
            else
            {
                Console.Error.WriteLine(line);
            }
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        Write(final: true);
    }
}
