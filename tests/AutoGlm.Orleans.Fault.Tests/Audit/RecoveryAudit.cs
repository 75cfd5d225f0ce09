using System.Globalization;
using AutoGlm.Orleans.Fault.Tests.Faults;
using AutoGlm.Orleans.Fault.Tests.Load;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>
/// Recovery after each fault: for every lane, the first turn it began at or after the fault instant must be
/// acknowledged, and the acknowledging attempt's first byte (its response headers) must come within
/// <see cref="Bound"/> of the fault. The worst lane is the fault's recovery time.
/// </summary>
public static class RecoveryAudit
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    public static string Claim(FaultRecord fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        return $"after {fault.Name}, every lane's next turn is served within 5 s";
    }

    public static void Run(IReadOnlyList<TurnRecord> turns, IReadOnlyList<FaultRecord> faults, int lanes, Findings findings)
    {
        ArgumentNullException.ThrowIfNull(turns);
        ArgumentNullException.ThrowIfNull(faults);
        ArgumentNullException.ThrowIfNull(findings);
        foreach (var fault in faults)
        {
            findings.Checked(Claim(fault));
            var slow = new List<(TurnRecord? Turn, string Why)>();
            var worst = TimeSpan.Zero;
            var worstLane = -1;
            for (var lane = 0; lane < lanes; lane++)
            {
                var next = turns.Where(t => t.IsMessage && t.Lane == lane && t.Started >= fault.At).MinBy(t => t.Started);
                if (next is null)
                {
                    slow.Add((null, $"lane {lane} began no turn after it"));
                    continue;
                }

                if (!next.Acknowledged)
                {
                    slow.Add((next, $"lane {lane}'s next turn {next.Key} was never acknowledged ({next.GaveUp})"));
                    continue;
                }

                var by = next.AcknowledgedBy!;
                var served = (by.Headers ?? by.Ended ?? next.Ended!.Value) - fault.At;
                if (served > worst)
                {
                    (worst, worstLane) = (served, lane);
                }

                if (served > Bound)
                {
                    slow.Add((next, string.Create(CultureInfo.InvariantCulture,
                        $"lane {lane}'s next turn {next.Key} served {served.TotalSeconds:F2}s after it, at retry {by.Retry}")));
                }
            }

            if (fault.Target >= 0)
            {
                var inFlight = turns.SelectMany(t => t.Attempts)
                    .Where(a => a.Endpoint == fault.Target && a.Started <= fault.At && (a.Ended ?? TimeSpan.MaxValue) >= fault.At)
                    .ToList();
                findings.Figure($"attempts in flight on silo{fault.Target} at {fault.Name[..1]}",
                    $"{inFlight.Count}{(inFlight.Count > 0 ? ": " + Tally.Of(inFlight.Select(a => a.Outcome)) : string.Empty)}");
            }

            findings.Figure($"recovery after {fault.Name}",
                $"{worst.TotalSeconds:F2}s (worst lane {worstLane}){(slow.Count > 0 ? $", {slow.Count} lanes over 5 s or never" : string.Empty)}");
            if (slow.Count > 0)
            {
                findings.Fail(Claim(fault), $"{string.Join("; ", slow.Take(4).Select(s => s.Why))}", slow.Where(s => s.Turn is not null).Select(s => s.Turn!));
            }
        }
    }
}
