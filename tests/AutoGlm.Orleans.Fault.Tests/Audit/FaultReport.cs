using System.Globalization;
using System.Text;
using AutoGlm.Orleans.Fault.Tests.Faults;
using AutoGlm.Orleans.Fault.Tests.Load;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>The run's report: setup, faults, figures, every claim with its verdict, the ledgers of failing turns.</summary>
public static class FaultReport
{
    public static string Format(string title, IEnumerable<string> setup, IReadOnlyList<FaultRecord> faults, Findings findings)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentNullException.ThrowIfNull(faults);
        ArgumentNullException.ThrowIfNull(findings);
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"==== {title}");
        foreach (var line in setup)
        {
            text.AppendLine("  " + line);
        }

        text.AppendLine("faults:");
        foreach (var fault in faults)
        {
            text.AppendLine("  " + fault.Describe());
        }

        text.AppendLine("figures:");
        var width = findings.Figures.Count == 0 ? 0 : findings.Figures.Max(f => f.Name.Length);
        foreach (var (name, value) in findings.Figures)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {name.PadRight(width)}  {value}");
        }

        var claims = findings.Claims.ToList();
        text.AppendLine(CultureInfo.InvariantCulture, $"claims: {claims.Count(c => c.Held)} of {claims.Count} hold");
        foreach (var (claim, held) in claims)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {(held ? "ok  " : "FAIL")} {claim}");
        }

        if (findings.Failures.Count > 0)
        {
            text.AppendLine("failures:");
            foreach (var failure in findings.Failures)
            {
                text.AppendLine("  " + failure);
            }
        }

        if (findings.FailingTurns.Count > 0)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"attempt ledgers of failing turns (first {findings.FailingTurns.Count}):");
            foreach (TurnRecord turn in findings.FailingTurns)
            {
                text.AppendLine("  " + turn.Describe());
            }
        }

        return text.ToString();
    }
}
