using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Serving;

/// <summary>
/// The most recent samples of one latency (a ring of <c>capacity</c>), each with its time: percentiles are taken over
/// the samples younger than the window, so an idle silo's figures fade instead of freezing. Thread-safe.
/// </summary>
public sealed class LatencyWindow(int capacity, TimeSpan maxAge)
{
    private readonly double[] _values = new double[capacity];
    private readonly long[] _times = new long[capacity];
    private readonly Lock _lock = new();
    private int _next;
    private int _count;

    public TimeSpan MaxAge => maxAge;

    public void Add(double seconds, long nowMs)
    {
        lock (_lock)
        {
            _values[_next] = seconds;
            _times[_next] = nowMs;
            _next = (_next + 1) % _values.Length;
            _count = Math.Min(_count + 1, _values.Length);
        }
    }

    public LatencySummary Summarize(long nowMs)
    {
        var oldest = nowMs - (long)maxAge.TotalMilliseconds;
        double[] recent;
        lock (_lock)
        {
            var kept = new List<double>(_count);
            for (var i = 0; i < _count; i++)
            {
                if (_times[i] >= oldest)
                {
                    kept.Add(_values[i]);
                }
            }

            recent = [.. kept];
        }

        if (recent.Length == 0)
        {
            return new LatencySummary();
        }

        Array.Sort(recent);
        return new LatencySummary { Samples = recent.Length, P50Seconds = Percentile(recent, 0.50), P99Seconds = Percentile(recent, 0.99) };
    }

    /// <summary>Nearest rank: the smallest sample with at least <paramref name="p"/> of the samples at or below it.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
