namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>"503 unavailable ×12, connection refused ×3": how often each value occurs, most frequent first.</summary>
public static class Tally
{
    public static string Of<T>(IEnumerable<T> values) =>
        string.Join(", ", values.GroupBy(v => v).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} ×{g.Count()}"));
}
