namespace AutoGlm.Orleans.Grains.Serving;

/// <summary>
/// A count per wall-clock second for the last few seconds, to answer "how many per second lately": the mean over the
/// last <see cref="Seconds"/> whole seconds (the running second is not over yet). Thread-safe.
/// </summary>
public sealed class RateWindow(int seconds)
{
    private readonly long[] _counts = new long[seconds + 2];
    private readonly long[] _second = new long[seconds + 2];
    private readonly Lock _lock = new();

    public int Seconds => seconds;

    public void Add(long count, long nowMs)
    {
        var second = nowMs / 1000;
        var slot = (int)(second % _counts.Length);
        lock (_lock)
        {
            if (_second[slot] != second)
            {
                _second[slot] = second;
                _counts[slot] = 0;
            }

            _counts[slot] += count;
        }
    }

    public double PerSecond(long nowMs)
    {
        var current = nowMs / 1000;
        long total = 0;
        lock (_lock)
        {
            for (var i = 0; i < _counts.Length; i++)
            {
                if (_second[i] < current && _second[i] >= current - seconds)
                {
                    total += _counts[i];
                }
            }
        }

        return (double)total / seconds;
    }
}
