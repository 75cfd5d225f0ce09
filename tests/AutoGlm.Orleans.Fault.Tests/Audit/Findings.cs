using System.Globalization;
using AutoGlm.Orleans.Fault.Tests.Load;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>
/// What the audits found: figures (always reported), failed claims (each a line of the final assertion), and the
/// turns involved (their attempt ledgers are printed). Every audit runs to the end before anything is asserted.
/// </summary>
public sealed class Findings
{
    private const int MaxLedgersPerClaim = 6;
    private readonly List<(string Name, string Value)> _figures = [];
    private readonly List<string> _claims = [];
    private readonly List<string> _failedClaims = [];
    private readonly List<string> _failures = [];
    private readonly List<TurnRecord> _failingTurns = [];

    public IReadOnlyList<(string Name, string Value)> Figures => _figures;

    public IReadOnlyList<string> Failures => _failures;

    /// <summary>Every claim checked, in order, and whether it held.</summary>
    public IEnumerable<(string Claim, bool Held)> Claims => _claims.Select(c => (c, !_failedClaims.Contains(c)));

    /// <summary>Registers a claim as checked (it holds unless <see cref="Fail"/> names it).</summary>
    public void Checked(params string[] claims)
    {
        ArgumentNullException.ThrowIfNull(claims);
        foreach (var claim in claims.Where(c => !_claims.Contains(c)))
        {
            _claims.Add(claim);
        }
    }

    public IReadOnlyList<TurnRecord> FailingTurns => _failingTurns;

    public void Figure(string name, FormattableString value) => _figures.Add((name, value.ToString(CultureInfo.InvariantCulture)));

    public void Figure(string name, long value) => _figures.Add((name, value.ToString(CultureInfo.InvariantCulture)));

    /// <summary>A failed claim; the first few <paramref name="turns"/> get their attempt ledger printed.</summary>
    public void Fail(string claim, FormattableString detail, IEnumerable<TurnRecord>? turns = null)
    {
        ArgumentNullException.ThrowIfNull(detail);
        Checked(claim);
        _failedClaims.Add(claim);
        _failures.Add(claim + ": " + detail.ToString(CultureInfo.InvariantCulture));
        foreach (var turn in (turns ?? []).Take(MaxLedgersPerClaim))
        {
            if (!_failingTurns.Contains(turn))
            {
                _failingTurns.Add(turn);
            }
        }
    }
}
