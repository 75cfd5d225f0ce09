using System.Globalization;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests.Faults;

/// <summary>One injected fault: what, on which process, when (on the run clock), and how the processes took it.</summary>
public sealed class FaultRecord
{
    public required string Name { get; init; }

    public required FaultKind Kind { get; init; }

    /// <summary>The silo index, or -1 for redis-server.</summary>
    public required int Target { get; init; }

    /// <summary>The instant the signal was sent.</summary>
    public TimeSpan At { get; set; }

    /// <summary>When every lane had an acknowledged turn begun after <see cref="At"/> (null: not within the cap).</summary>
    public TimeSpan? AllLanesRecovered { get; set; }

    /// <summary>When the restarted process was ready again.</summary>
    public TimeSpan? Restarted { get; set; }

    public ShutdownResult? Shutdown { get; set; }

    public List<string> Notes { get; } = [];

    public string Describe()
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{Name} at {At.TotalSeconds:F3}s");
        if (Shutdown is { } shutdown)
        {
            text += shutdown.Exited
                ? string.Create(CultureInfo.InvariantCulture, $", exited by itself after {shutdown.Elapsed.TotalSeconds:F2}s (code {shutdown.ExitCode})")
                : string.Create(CultureInfo.InvariantCulture, $", did NOT exit within {shutdown.Elapsed.TotalSeconds:F0}s (killed)");
        }

        text += AllLanesRecovered is { } recovered
            ? string.Create(CultureInfo.InvariantCulture, $", every lane served again after {(recovered - At).TotalSeconds:F2}s")
            : ", NOT every lane served again within the wait";
        if (Restarted is { } restarted)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", back at {restarted.TotalSeconds:F3}s");
        }

        return Notes.Count == 0 ? text : text + " (" + string.Join("; ", Notes) + ")";
    }
}
