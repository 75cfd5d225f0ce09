using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Benchmarks.MultiTurn;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tokenization;

namespace AutoGlm.Orleans.Benchmarks.Drain;

/// <summary>What a drain run does: N conversations a group, each with at least HistoryTokens of history before its next turn.</summary>
internal sealed record DrainSettings(string ModelPath, int Conversations, int HistoryTokens, int NextTurnTokens, int NextTurnMaxTokens);

/// <summary>
/// `drain [--json FILE] [--conversations N] [--history TOKENS] [--model DIR]`: a conversation's next-turn TTFT after
/// its silo drains and its KV moves with it, against a conversation that never moved and one whose KV is gone
/// (recomputed), on real silo processes with redis-server (<see cref="DrainBenchmark"/>); the drains' time, bytes
/// moved and moves against fallbacks. Ratios against the undisturbed conversations, and the targets.
/// </summary>
internal static class DrainCommand
{
    public const string Usage = "drain [--json FILE] [--conversations N] [--history TOKENS] [--model DIR]";

    /// <summary>The targets: migrated TTFT at most this much over undisturbed, and at least this much faster than recompute.</summary>
    private const double MaxOverUndisturbed = 1.5;
    private const double MinRecomputeSpeedup = 3.0;

    public static async Task<int> RunAsync(string[] args, string defaultModel)
    {
        string? json = null;
        var model = defaultModel;
        var conversations = 16;
        var history = 1_500;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = args[++i]; break;
                case "--model": model = args[++i]; break;
                case "--conversations": conversations = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--history": history = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }

        var manifest = ModelFolder.Load(model);
        var english = new EnglishText(TokenizerLoader.Load(manifest.Tokenizer, model));
        var settings = new DrainSettings(model, conversations, history, NextTurnTokens: 48, NextTurnMaxTokens: 8);
        if (history + 400 > manifest.ContextLength)
        {
            Console.Error.WriteLine($"--history {history} leaves no room for the next turn in a {manifest.ContextLength}-token context");
            return 2;
        }

        var run = await new DrainBenchmark(settings, english).RunAsync();
        var result = Result(run, settings, manifest);
        var text = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        if (json is not null)
        {
            await File.WriteAllTextAsync(json, text + Environment.NewLine);
        }

        return 0;
    }

    private static JsonObject Result(DrainRun run, DrainSettings settings, ModelManifest manifest)
    {
        var undisturbed = run.Groups[DrainBenchmark.Undisturbed];
        var migrated = run.Groups[DrainBenchmark.Migrated];
        var recompute = run.Groups[DrainBenchmark.Recompute];
        double P(IReadOnlyList<MeasuredTurn> turns, double p) => Percentiles.Of([.. turns.Select(t => t.Turn.TtftMs)], p);
        var overUndisturbedP50 = Ratio(P(migrated, 50), P(undisturbed, 50));
        var overUndisturbedP95 = Ratio(P(migrated, 95), P(undisturbed, 95));
        var recomputeSpeedup = Ratio(P(recompute, 50), P(migrated, 50));
        return new JsonObject
        {
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["cpu"] = CpuModel(),
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["model"] = manifest.Name,
                ["context_length"] = manifest.ContextLength,
                ["silos"] = "3 silo child processes (dotnet AutoGlm.Orleans.Silo.dll) clustered through one redis-server (membership and "
                    + "grain storage, AOF everysec) on 127.0.0.1; each Engine:IntraOpThreads 1, Engine:KvBudgetBytes 1 GiB, other options default",
                ["load_average_before_measuring"] = run.LoadBeforeMeasuring,
            },
            ["setup"] = new JsonObject
            {
                ["conversations_per_group"] = settings.Conversations,
                ["min_history_tokens"] = settings.HistoryTokens,
                ["next_turn_user_tokens"] = settings.NextTurnTokens,
                ["next_turn_max_tokens"] = settings.NextTurnMaxTokens,
                ["temperature"] = 0,
                ["undisturbed"] = "conversations built on silo B at the same time as the migrated ones on A; never moved",
                ["migrated"] = "built on silo A; POST /admin/drain to A moved their KV to B",
                ["recompute"] = "built on silo C (Conversations:MoveDeadline 00:00:00: moving off); POST /admin/drain to C sent them to B without KV",
                ["measurement"] = "after both drains, one streamed REST turn per conversation on B, one at a time, the three groups interleaved "
                    + "(rotating which goes first); TTFT = request sent to the first SSE data event with text; recomputed tokens = B's "
                    + "autoglm_conversation_recomputed_tokens before and after each turn; percentiles interpolated (numpy's default); "
                    + "following_turn: the turn after, measured the same way once every conversation had its next turn",
            },
            ["groups"] = new JsonObject
            {
                [DrainBenchmark.Undisturbed] = Group(undisturbed, run.Following[DrainBenchmark.Undisturbed]),
                [DrainBenchmark.Migrated] = Group(migrated, run.Following[DrainBenchmark.Migrated]),
                [DrainBenchmark.Recompute] = Group(recompute, run.Following[DrainBenchmark.Recompute]),
            },
            ["drain_with_moves"] = Drain(run.WithMoves),
            ["drain_without_moves"] = Drain(run.WithoutMoves),
            ["ratios"] = new JsonObject
            {
                ["migrated_over_undisturbed_ttft_p50"] = overUndisturbedP50,
                ["migrated_over_undisturbed_ttft_p95"] = overUndisturbedP95,
                ["recompute_over_migrated_ttft_p50"] = recomputeSpeedup,
                ["recompute_over_migrated_ttft_p95"] = Ratio(P(recompute, 95), P(migrated, 95)),
                ["recompute_over_undisturbed_ttft_p50"] = Ratio(P(recompute, 50), P(undisturbed, 50)),
                ["migrated_cached_over_history"] = Ratio(migrated.Sum(t => (double)t.Turn.CachedTokens), migrated.Sum(t => (double)t.Conversation.HistoryTokens)),
                ["following_turn_migrated_over_undisturbed_ttft_p50"] = Ratio(
                    P(run.Following[DrainBenchmark.Migrated], 50), P(run.Following[DrainBenchmark.Undisturbed], 50)),
                ["following_turn_recompute_over_undisturbed_ttft_p50"] = Ratio(
                    P(run.Following[DrainBenchmark.Recompute], 50), P(run.Following[DrainBenchmark.Undisturbed], 50)),
                ["drain_seconds_with_moves_over_without"] = Ratio(run.WithMoves.WallSeconds, run.WithoutMoves.WallSeconds),
            },
            ["targets"] = new JsonObject
            {
                ["migrated_ttft_p50_at_most_1_5x_undisturbed"] = overUndisturbedP50 <= MaxOverUndisturbed,
                ["migrated_ttft_p95_at_most_1_5x_undisturbed"] = overUndisturbedP95 <= MaxOverUndisturbed,
                ["migrated_ttft_p50_at_least_3x_faster_than_recompute"] = recomputeSpeedup >= MinRecomputeSpeedup,
            },
        };
    }

    private static JsonObject Group(IReadOnlyList<MeasuredTurn> turns, IReadOnlyList<MeasuredTurn> following)
    {
        var ttft = turns.Select(t => t.Turn.TtftMs).ToArray();
        var after = following.Select(t => t.Turn.TtftMs).ToArray();
        return new JsonObject
        {
            ["conversations"] = turns.Count,
            ["history_tokens"] = Spread(turns.Select(t => (double)t.Conversation.HistoryTokens)),
            ["ttft_ms"] = new JsonObject
            {
                ["p50"] = Ms(Percentiles.Of(ttft, 50)),
                ["p95"] = Ms(Percentiles.Of(ttft, 95)),
                ["mean"] = Ms(ttft.Average()),
                ["min"] = Ms(ttft.Min()),
                ["max"] = Ms(ttft.Max()),
                ["each"] = new JsonArray([.. ttft.Select(v => JsonValue.Create(Ms(v)))]),
            },
            ["prompt_tokens"] = Spread(turns.Select(t => (double)t.Turn.PromptTokens)),
            ["cached_tokens"] = Spread(turns.Select(t => (double)t.Turn.CachedTokens)),
            ["recomputed_tokens"] = turns.Sum(t => t.RecomputedTokens),
            ["turn_total_ms_p50"] = Ms(Percentiles.Of([.. turns.Select(t => t.Turn.TotalMs)], 50)),
            ["following_turn"] = new JsonObject
            {
                ["ttft_ms_p50"] = Ms(Percentiles.Of(after, 50)),
                ["ttft_ms_p95"] = Ms(Percentiles.Of(after, 95)),
                ["cached_tokens"] = Spread(following.Select(t => (double)t.Turn.CachedTokens)),
                ["recomputed_tokens"] = following.Sum(t => t.RecomputedTokens),
                ["turn_total_ms_p50"] = Ms(Percentiles.Of([.. following.Select(t => t.Turn.TotalMs)], 50)),
            },
        };
    }

    private static JsonObject Drain(DrainFigures d) => new()
    {
        ["conversations"] = d.Conversations,
        ["admin_drain_wall_s"] = Math.Round(d.WallSeconds, 3),
        ["admin_drain_reported_s"] = Math.Round(d.ReportedSeconds, 3),
        ["autoglm_silo_drain_seconds"] = Math.Round(d.MetricSeconds, 3),
        ["kv_moves"] = d.Moves,
        ["kv_move_fallbacks"] = d.Fallbacks,
        ["kv_bytes_moved"] = d.BytesMoved,
        ["kv_bytes_per_move"] = d.Moves > 0 ? Math.Round(d.BytesMoved / d.Moves) : 0,
        ["recompute_avoided_tokens"] = d.RecomputeAvoidedTokens,
        ["kv_imported_by_survivor"] = d.ImportedBySurvivor,
        ["moved_mib_per_s"] = d.WallSeconds > 0 ? Math.Round(d.BytesMoved / 1048576 / d.WallSeconds, 1) : 0,
    };

    private static JsonObject Spread(IEnumerable<double> values)
    {
        var all = values.ToArray();
        return new JsonObject { ["min"] = all.Min(), ["mean"] = Math.Round(all.Average(), 1), ["max"] = all.Max() };
    }

    private static double Ms(double value) => Math.Round(value, 2);

    private static double Ratio(double numerator, double denominator) => denominator == 0 ? double.NaN : Math.Round(numerator / denominator, 3);

    private static string CpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
