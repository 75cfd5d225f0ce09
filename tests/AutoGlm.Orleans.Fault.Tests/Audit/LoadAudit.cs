using System.Globalization;
using AutoGlm.Orleans.Fault.Tests.Faults;
using AutoGlm.Orleans.Fault.Tests.Load;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>
/// What the clients saw: turns acknowledged or not, retries (no turn may need more than <see cref="MaxRetries"/>), and
/// the shape of every 200: a stream ends with [DONE] or an error event, no body is empty. A body that broke off is
/// excused only when its own silo was SIGKILLed while it was in flight (nothing can be sent after SIGKILL).
/// </summary>
public static class LoadAudit
{
    public const int MaxRetries = 3;
    public const string RetryBound = "no turn needed more than 3 retries";
    public const string EveryTurnAcknowledged = "every turn was acknowledged in the end";
    public const string StreamsEnd = "every HTTP stream ended with [DONE] or an error event";
    public const string NoEmpty200 = "no 200 had an empty body";

    public static void Run(IReadOnlyList<TurnRecord> turns, IReadOnlyList<FaultRecord> faults, Findings findings)
    {
        ArgumentNullException.ThrowIfNull(turns);
        ArgumentNullException.ThrowIfNull(faults);
        ArgumentNullException.ThrowIfNull(findings);
        findings.Checked(RetryBound, EveryTurnAcknowledged, StreamsEnd, NoEmpty200);
        var messages = turns.Where(t => t.IsMessage).ToList();
        var creates = turns.Where(t => !t.IsMessage).ToList();
        var attempts = messages.SelectMany(t => t.Attempts.Select(a => (Turn: t, Attempt: a))).ToList();
        findings.Figure("turns begun", messages.Count);
        findings.Figure("turns acknowledged", messages.Count(t => t.Acknowledged));
        findings.Figure("turns not acknowledged", messages.Count(t => !t.Acknowledged));
        foreach (var kind in new[] { TurnKind.RestJson, TurnKind.RestStream, TurnKind.SdkJson, TurnKind.SdkStream })
        {
            findings.Figure($"  {kind} acknowledged/begun", $"{messages.Count(t => t.Kind == kind && t.Acknowledged)}/{messages.Count(t => t.Kind == kind)}");
        }

        findings.Figure("attempts", attempts.Count);
        findings.Figure("retries (turns)", messages.Sum(t => t.Retries));
        findings.Figure("retries (REST creates)", creates.Sum(t => t.Retries));
        var worst = messages.OrderByDescending(t => t.Retries).FirstOrDefault();
        findings.Figure("max retries of one turn", $"{worst?.Retries ?? 0} ({worst?.Key ?? "-"})");
        findings.Figure("turns by retries", $"{string.Join(", ", messages.GroupBy(t => t.Retries).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"))}");
        findings.Figure("failed attempts by outcome", $"{Tally.Of(attempts.Where(x => x.Attempt != x.Turn.AcknowledgedBy).Select(x => x.Attempt.Outcome))}");
        findings.Figure("replayed replies", attempts.Count(x => x.Attempt.Replayed));

        var overRetried = messages.Where(t => t.Retries > MaxRetries).OrderByDescending(t => t.Retries).ToList();
        if (overRetried.Count > 0)
        {
            findings.Fail(RetryBound, $"{overRetried.Count} turns, the worst {overRetried[0].Key} with {overRetried[0].Retries}", overRetried);
        }

        var unacknowledged = messages.Where(t => !t.Acknowledged).ToList();
        if (unacknowledged.Count > 0)
        {
            findings.Fail(EveryTurnAcknowledged, $"{unacknowledged.Count} not: {Tally.Of(unacknowledged.Select(t => t.GaveUp))}", unacknowledged);
        }

        var ok200 = attempts.Where(x => x.Attempt.Status == 200).ToList();
        var streams = ok200.Where(x => x.Turn.Kind is TurnKind.RestStream or TurnKind.SdkStream).ToList();
        findings.Figure("200 streams by end", $"{Tally.Of(streams.Select(x => x.Attempt.Stream))}");
        var badEnds = ok200
            .Where(x => x.Attempt.Stream is StreamEnd.EndedWithoutDone
                || (x.Attempt.Stream is StreamEnd.Broken && !KilledUnder(x.Attempt, faults)))
            .ToList();
        var excused = ok200.Count(x => x.Attempt.Stream is StreamEnd.Broken && KilledUnder(x.Attempt, faults));
        findings.Figure("200 bodies broken by a SIGKILL of their own silo (excused)", excused);
        if (badEnds.Count > 0)
        {
            findings.Fail(StreamsEnd, $"{badEnds.Count} 200 bodies ended otherwise: {Tally.Of(badEnds.Select(x => x.Attempt.Outcome))}",
                badEnds.Select(x => x.Turn));
        }

        var empty = ok200.Where(x => x.Attempt.EmptyBody && x.Attempt.Stream != StreamEnd.Broken).ToList();
        if (empty.Count > 0)
        {
            var examples = empty.Take(5).Select(x => x.Turn.Key + " retry " + x.Attempt.Retry.ToString(CultureInfo.InvariantCulture));
            findings.Fail(NoEmpty200, $"{empty.Count} ({string.Join(", ", examples)})", empty.Select(x => x.Turn));
        }
    }

    /// <summary>Whether the attempt's own silo was SIGKILLed while the attempt was in flight.</summary>
    private static bool KilledUnder(AttemptRecord attempt, IReadOnlyList<FaultRecord> faults) =>
        faults.Any(f => f.Kind == FaultKind.KillSilo && f.Target == attempt.Endpoint
            && attempt.Started <= f.At && (attempt.Ended ?? TimeSpan.MaxValue) >= f.At);
}
