using System.Diagnostics;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>One monotonic clock for the whole run: attempts, faults and recoveries are all offsets on it.</summary>
public sealed class RunClock
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();

    public TimeSpan Now => _watch.Elapsed;
}
