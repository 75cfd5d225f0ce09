using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// The numbers of one system at one concurrency, computed the same way for every system from its turn records:
/// the S object of the result file. Failed turns count in <see cref="Errors"/> and in no latency.
/// </summary>
public sealed class SystemStats
{
    private SystemStats(RunResult run, int turnsPerConversation)
    {
        Run = run;
        var ok = run.Turns.Where(t => t.Error is null).ToList();
        Errors = run.Turns.Count - ok.Count;
        Summary = Summarize(ok);
        ByTurn = Enumerable.Range(1, turnsPerConversation).Select(i => Summarize(ok.Where(t => t.Turn == i).ToList())).ToList();
        OutputTokensPerSecond = ok.Sum(t => t.OutputTokens) / run.WallSeconds;
        RequestsPerSecond = ok.Count / run.WallSeconds;
    }

    public RunResult Run { get; }

    public int Errors { get; }

    public TurnSummary Summary { get; }

    public IReadOnlyList<TurnSummary> ByTurn { get; }

    public double OutputTokensPerSecond { get; }

    public double RequestsPerSecond { get; }

    public static SystemStats From(RunResult run, int turnsPerConversation)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new SystemStats(run, turnsPerConversation);
    }

    private static TurnSummary Summarize(IReadOnlyList<TurnRecord> turns)
    {
        var ttft = turns.Select(t => t.TtftMs).ToList();
        var itl = turns.SelectMany(t => t.ItlMs).ToList();
        var e2e = turns.Select(t => t.E2eMs).ToList();
        long prompt = turns.Sum(t => (long)t.PromptTokens);
        long cached = turns.Sum(t => (long)t.CachedTokens);
        return new TurnSummary(turns.Count,
            Percentiles.Of(ttft, 50), Percentiles.Of(ttft, 90), Percentiles.Of(ttft, 99),
            Percentiles.Of(itl, 50), Percentiles.Of(itl, 99),
            Percentiles.Of(e2e, 50), Percentiles.Of(e2e, 99),
            turns.Count == 0 ? double.NaN : prompt / (double)turns.Count,
            prompt == 0 ? 0 : cached / (double)prompt);
    }

    /// <summary>S: the keys first, then the rest of what was measured.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["ttft_ms_p50"] = R(Summary.TtftP50),
            ["ttft_ms_p90"] = R(Summary.TtftP90),
            ["ttft_ms_p99"] = R(Summary.TtftP99),
            ["itl_ms_p50"] = R(Summary.ItlP50),
            ["itl_ms_p99"] = R(Summary.ItlP99),
            ["e2e_ms_p50"] = R(Summary.E2eP50),
            ["e2e_ms_p99"] = R(Summary.E2eP99),
            ["output_tokens_per_s"] = R(OutputTokensPerSecond),
            ["requests_per_s"] = R(RequestsPerSecond, 3),
            ["cache_hit_rate"] = R(Summary.CacheHitRate, 4),
            ["ttft_ms_by_turn"] = new JsonArray([.. ByTurn.Select(t => (JsonNode?)R(t.TtftP50))]),
            ["concurrency"] = Run.Concurrency,
            ["wall_s"] = R(Run.WallSeconds, 3),
            ["turns"] = Summary.Count,
            ["errors"] = Errors,
            ["by_turn"] = new JsonArray([.. ByTurn.Select((t, i) => (JsonNode?)new JsonObject
            {
                ["turn"] = i + 1,
                ["count"] = t.Count,
                ["prompt_tokens_mean"] = R(t.PromptTokensMean, 1),
                ["ttft_ms_p50"] = R(t.TtftP50),
                ["ttft_ms_p90"] = R(t.TtftP90),
                ["ttft_ms_p99"] = R(t.TtftP99),
                ["itl_ms_p50"] = R(t.ItlP50),
                ["itl_ms_p99"] = R(t.ItlP99),
                ["e2e_ms_p50"] = R(t.E2eP50),
                ["cache_hit_rate"] = R(t.CacheHitRate, 4),
            })]),
        };
        var firstError = Run.Turns.FirstOrDefault(t => t.Error is not null)?.Error;
        if (firstError is not null)
        {
            json["first_error"] = firstError;
        }

        return json;
    }

    /// <summary>JSON has no NaN: a statistic of no sample is null.</summary>
    private static JsonNode? R(double value, int digits = 2) =>
        double.IsFinite(value) ? JsonValue.Create(Math.Round(value, digits)) : null;
}
