using System.Text;

namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>
/// A status per route and caller, kept in the order the rows and columns were declared (not the order the cells were
/// measured in), printable as a Markdown table.
/// </summary>
public sealed class AccessMatrix(IReadOnlyList<string> routes, IReadOnlyList<string> callers)
{
    private readonly Dictionary<(string Route, string Caller), string> _cells = [];

    public IReadOnlyList<string> Routes { get; } = routes;

    public IReadOnlyList<string> Callers { get; } = callers;

    public string this[string route, string caller]
    {
        get => _cells.TryGetValue((route, caller), out var cell) ? cell : "–";
        set
        {
            if (!Routes.Contains(route) || !Callers.Contains(caller))
            {
                throw new ArgumentException($"no cell ({route}, {caller})");
            }

            _cells[(route, caller)] = value;
        }
    }

    /// <summary>"route × caller: got X, expected Y" for every cell that differs.</summary>
    public IReadOnlyList<string> Differences(AccessMatrix expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        return [.. Routes.SelectMany(r => Callers.Select(c => (Route: r, Caller: c)))
            .Where(cell => this[cell.Route, cell.Caller] != expected[cell.Route, cell.Caller])
            .Select(cell => $"{cell.Route} × {cell.Caller}: got {this[cell.Route, cell.Caller]}, expected {expected[cell.Route, cell.Caller]}")];
    }

    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.Append("| route |");
        foreach (var caller in Callers)
        {
            text.Append(' ').Append(caller).Append(" |");
        }

        text.AppendLine().Append("|---|").AppendLine(string.Concat(Callers.Select(_ => "---|")));
        foreach (var route in Routes)
        {
            text.Append("| ").Append(route.Replace("|", "\\|", StringComparison.Ordinal)).Append(" |");
            foreach (var caller in Callers)
            {
                text.Append(' ').Append(this[route, caller]).Append(" |");
            }

            text.AppendLine();
        }

        return text.ToString();
    }
}
