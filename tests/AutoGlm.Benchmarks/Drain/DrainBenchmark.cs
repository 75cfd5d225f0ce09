using AutoGlm.Orleans.Benchmarks.MultiTurn;

namespace AutoGlm.Orleans.Benchmarks.Drain;

/// <summary>One conversation of a group, with the history it had before its measured turn.</summary>
internal sealed record GroupConversation(string Id, int HistoryTokens);

/// <summary>A measured next turn, and the history tokens the surviving silo's metrics say it recomputed.</summary>
internal sealed record MeasuredTurn(GroupConversation Conversation, TimedTurn Turn, double RecomputedTokens);

/// <summary>What a drain did, from the drained silo's /metrics (and the survivor's kv_imported).</summary>
internal sealed record DrainFigures(int Conversations, double WallSeconds, double ReportedSeconds, double MetricSeconds, double Moves,
    double Fallbacks, double BytesMoved, double RecomputeAvoidedTokens, double ImportedBySurvivor);

/// <summary>Everything one run measured.</summary>
internal sealed record DrainRun(IReadOnlyDictionary<string, IReadOnlyList<MeasuredTurn>> Groups,
    IReadOnlyDictionary<string, IReadOnlyList<MeasuredTurn>> Following, DrainFigures WithMoves, DrainFigures WithoutMoves, string LoadBeforeMeasuring);

/// <summary>
/// The drain benchmark's script, on real processes (<see cref="DrainCluster"/>): silos A and B; N conversations of
/// ≥ <see cref="DrainSettings.HistoryTokens"/> tokens on A ("migrated") and N on B ("undisturbed", the control);
/// POST /admin/drain to A, so their KV moves to B. Then silo C joins with Conversations:MoveDeadline 0 (moving off),
/// takes N more conversations of the same size ("recompute"), and is drained too: they reach B without KV. Last, one
/// streamed next turn of every conversation on B, one at a time, the three groups interleaved (rotating which goes
/// first), so all three are measured on the same silo at the same time under the same load; then the turn after that,
/// the same way, to tell a one-time cost of the move from a lasting one.
/// </summary>
internal sealed class DrainBenchmark(DrainSettings settings, EnglishText english)
{
    public const string Undisturbed = "undisturbed";
    public const string Migrated = "migrated";
    public const string Recompute = "recompute";

    private const int BuildReplyTokens = 48;
    private const int MaxUserTokens = 320;

    private readonly SiloApi _api = new();

    public async Task<DrainRun> RunAsync()
    {
        try
        {
            await using var cluster = await DrainCluster.StartAsync(settings.ModelPath);
            try
            {
                return await RunAsync(cluster);
            }
            catch
            {
                Console.Error.WriteLine($"[drain] failed; silo logs in {cluster.LogFolder}:");
                foreach (var log in Directory.EnumerateFiles(cluster.LogFolder, "*.log"))
                {
                    Console.Error.WriteLine($"---- {log}\n{string.Join('\n', File.ReadLines(log).TakeLast(30))}");
                }

                throw;
            }
        }
        finally
        {
            _api.Dispose();
        }
    }

    private async Task<DrainRun> RunAsync(DrainCluster cluster)
    {
        var n = settings.Conversations;
        var a = await cluster.StartSiloAsync("silo-a");
        var b = await cluster.StartSiloAsync("silo-b");

        var placed = await PlaceAsync(cluster, a, [a, b], "move");
        Console.Error.WriteLine($"[drain] building {n} conversations on {a.Name} and {n} on {b.Name} to {settings.HistoryTokens}+ tokens");
        var built = await Task.WhenAll(BuildGroupAsync(a, placed[a], seed: 1_000), BuildGroupAsync(b, placed[b], seed: 2_000));
        var migrated = built[0];
        var control = built[1];

        Console.Error.WriteLine($"[drain] draining {a.Name} (POST /admin/drain)");
        var withMoves = await DrainAsync(a, b, n);
        Console.Error.WriteLine($"[drain] {a.Name} drained in {withMoves.WallSeconds:F2} s: {withMoves.Moves} moved, {withMoves.Fallbacks} fell back, "
            + $"{withMoves.BytesMoved / 1048576:F1} MiB; {b.Name} imported {withMoves.ImportedBySurvivor}");

        // Silo C moves nothing on a drain: its conversations reach B with their KV gone, and recompute it.
        var c = await cluster.StartSiloAsync("silo-c", "--Conversations:MoveDeadline", "00:00:00");
        var placedOnC = await PlaceAsync(cluster, c, [c], "recompute");
        Console.Error.WriteLine($"[drain] building {n} conversations on {c.Name} (MoveDeadline 0)");
        var recompute = await BuildGroupAsync(c, placedOnC[c], seed: 3_000);
        Console.Error.WriteLine($"[drain] draining {c.Name} (POST /admin/drain)");
        var withoutMoves = await DrainAsync(c, b, n);
        Console.Error.WriteLine($"[drain] {c.Name} drained in {withoutMoves.WallSeconds:F2} s: {withoutMoves.Moves} moved, {withoutMoves.Fallbacks} fell back");

        await WarmUpAsync(b);
        var load = File.Exists("/proc/loadavg") ? (await File.ReadAllTextAsync("/proc/loadavg")).Trim() : "unknown";
        Console.Error.WriteLine($"[drain] measuring next turns on {b.Name} (load average {load})");
        var groups = new (string Name, IReadOnlyList<GroupConversation> Conversations)[] { (Undisturbed, control), (Migrated, migrated), (Recompute, recompute) };
        var next = await MeasureAsync(cluster, b, groups, english.Next(new Random(99), settings.NextTurnTokens));
        // The turn after, the same way: whether what the next turn cost was the move's alone.
        var following = await MeasureAsync(cluster, b, groups, english.Next(new Random(98), settings.NextTurnTokens));
        foreach (var (name, turns) in next)
        {
            var ttft = turns.Select(t => t.Turn.TtftMs).ToArray();
            Console.Error.WriteLine($"[drain] {name,-11}: ttft p50 {Percentiles.Of(ttft, 50),7:F1} ms  p95 {Percentiles.Of(ttft, 95),7:F1} ms  "
                + $"cached {turns.Average(t => t.Turn.CachedTokens),6:F0} of {turns.Average(t => t.Conversation.HistoryTokens),6:F0} history  "
                + $"recomputed {turns.Sum(t => t.RecomputedTokens)}; the turn after: ttft p50 "
                + $"{Percentiles.Of([.. following[name].Select(t => t.Turn.TtftMs)], 50):F1} ms");
        }

        return new DrainRun(next, following, withMoves, withoutMoves, load);
    }

    /// <summary>
    /// One streamed turn of every conversation on <paramref name="survivor"/>, one at a time, the groups interleaved
    /// (conversation i of each group, rotating which group goes first); with the history tokens each recomputed.
    /// </summary>
    private async Task<IReadOnlyDictionary<string, IReadOnlyList<MeasuredTurn>>> MeasureAsync(DrainCluster cluster, SiloChild survivor,
        (string Name, IReadOnlyList<GroupConversation> Conversations)[] groups, string content)
    {
        const string Recomputed = "autoglm_conversation_recomputed_tokens";
        var measured = groups.ToDictionary(g => g.Name, _ => new List<MeasuredTurn>());
        var counter = await _api.CounterAsync(survivor.HttpBase, Recomputed);
        for (var i = 0; i < settings.Conversations; i++)
        {
            for (var k = 0; k < groups.Length; k++)
            {
                var (name, conversations) = groups[(i + k) % groups.Length];
                var turn = await _api.StreamTurnAsync(survivor.HttpBase, conversations[i].Id, content, settings.NextTurnMaxTokens);
                // Turns run one at a time, so the counter's change since the last turn is this turn's.
                var before = counter;
                counter = await _api.CounterAsync(survivor.HttpBase, Recomputed);
                if (cluster.SiloOf(turn.Silo) != survivor)
                {
                    throw new InvalidOperationException($"{conversations[i].Id} ({name}) answered on {turn.Silo}, not {survivor.Name}");
                }

                measured[name].Add(new MeasuredTurn(conversations[i], turn, counter - before));
            }
        }

        return measured.ToDictionary(g => g.Key, g => (IReadOnlyList<MeasuredTurn>)g.Value);
    }

    /// <summary>
    /// Creates conversations through <paramref name="via"/> until each of <paramref name="on"/> hosts N of them
    /// (placement decides where each lands; GET /conversations/{id} tells); any that land elsewhere are deleted.
    /// </summary>
    private async Task<Dictionary<SiloChild, List<string>>> PlaceAsync(DrainCluster cluster, SiloChild via, SiloChild[] on, string prefix)
    {
        var n = settings.Conversations;
        var placed = on.ToDictionary(s => s, _ => new List<string>());
        for (var i = 0; placed.Values.Any(l => l.Count < n); i++)
        {
            if (i >= 10 * n * on.Length)
            {
                throw new InvalidOperationException($"placement gave {string.Join(", ", placed.Select(p => $"{p.Key.Name}: {p.Value.Count}"))} after {i} conversations");
            }

            var id = $"{prefix}-{i}-{Guid.NewGuid().ToString("N")[..8]}";
            await _api.CreateAsync(via.HttpBase, id);
            var (silo, _) = await _api.StatusAsync(via.HttpBase, id);
            if (cluster.SiloOf(silo) is { } host && placed.TryGetValue(host, out var list) && list.Count < n)
            {
                list.Add(id);
            }
            else
            {
                await _api.DeleteAsync(via.HttpBase, id);
            }
        }

        return placed;
    }

    private async Task<IReadOnlyList<GroupConversation>> BuildGroupAsync(SiloChild silo, IReadOnlyList<string> ids, int seed)
    {
        var built = new List<GroupConversation>();
        for (var i = 0; i < ids.Count; i++)
        {
            built.Add(new GroupConversation(ids[i], await BuildAsync(silo, ids[i], seed + i)));
        }

        return built;
    }

    /// <summary>
    /// Greedy turns of long user messages (text of the model's own domain, distinct per conversation from its first
    /// token on, so no two conversations share a prefix) until the history reaches the target; the last message is cut
    /// to land just past it. Every turn is answered by <paramref name="silo"/>.
    /// </summary>
    private async Task<int> BuildAsync(SiloChild silo, string id, int seed)
    {
        var random = new Random(seed);
        var history = 0;
        while (history < settings.HistoryTokens)
        {
            var tokens = Math.Clamp(settings.HistoryTokens - history + 16, 32, MaxUserTokens);
            var answered = await _api.TurnAsync(silo.HttpBase, id, english.Next(random, tokens), BuildReplyTokens);
            if (!silo.Owns(answered))
            {
                throw new InvalidOperationException($"{id}: a turn was answered on {answered}, not {silo.Name}");
            }

            (_, history) = await _api.StatusAsync(silo.HttpBase, id);
        }

        return history;
    }

    private async Task<DrainFigures> DrainAsync(SiloChild drained, SiloChild survivor, int conversations)
    {
        var importedBefore = await _api.CounterAsync(survivor.HttpBase, "autoglm_conversation_kv_imported");
        var (wall, reported) = await _api.DrainAsync(drained.HttpBase);
        var metrics = await _api.MetricsAsync(drained.HttpBase);
        var imported = await _api.CounterAsync(survivor.HttpBase, "autoglm_conversation_kv_imported") - importedBefore;
        return new DrainFigures(conversations, wall, reported,
            SiloApi.Sum(metrics, "autoglm_silo_drain_seconds_sum"),
            SiloApi.Sum(metrics, "autoglm_conversation_kv_moves"),
            SiloApi.Sum(metrics, "autoglm_conversation_kv_move_fallbacks"),
            SiloApi.Sum(metrics, "autoglm_conversation_kv_bytes_moved"),
            SiloApi.Sum(metrics, "autoglm_conversation_recompute_avoided_tokens"),
            imported);
    }

    /// <summary>Unmeasured: streamed turns of a short conversation on the survivor, so the streaming path is warm.</summary>
    private async Task WarmUpAsync(SiloChild survivor)
    {
        var id = "warmup-" + Guid.NewGuid().ToString("N")[..8];
        await _api.CreateAsync(survivor.HttpBase, id);
        var random = new Random(7);
        for (var i = 0; i < 3; i++)
        {
            await _api.StreamTurnAsync(survivor.HttpBase, id, english.Next(random, settings.NextTurnTokens), settings.NextTurnMaxTokens);
        }

        await _api.DeleteAsync(survivor.HttpBase, id);
    }
}
