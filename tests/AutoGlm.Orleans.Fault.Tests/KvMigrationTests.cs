using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests;

/// <summary>
/// KV follows its conversation through a drain, across real processes: 2 Silo processes and redis-server; SIGTERM the
/// silo holding conversations of 400+ tokens; each one's next turn, on the other silo, finds its whole history cached
/// (nothing recomputed) and answers with the greedy tokens a conversation that never moved gives. In both KV layouts.
/// </summary>
public sealed class KvMigrationTests
{
    private const int Conversations = 4;
    private static readonly string[] Questions =
    [
        "Tell me about the harbour town, its boats, its fishermen and the lighthouse that stands at the end of the long stone pier.",
        "What happens there in winter, when the storms come in from the sea and the boats stay tied up for weeks at a time?",
        "And in summer, when the visitors arrive and the market fills the square with fruit, fish, bread and music?",
        "Who keeps the lighthouse now, and what does the keeper do on the long quiet nights between the ships?",
    ];

    [Theory]
    [InlineData("shared")]
    [InlineData("optimum")]
    public async Task After_SIGTERM_every_conversation_continues_on_the_other_silo_with_its_kv(string layout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(4));
        var ct = deadline.Token;
        string[] arguments = layout == "optimum" ? [.. ClusterFaultTests.MembershipTuning, "--Engine:ModelVariant", "optimum"] : ClusterFaultTests.MembershipTuning;
        using var cluster = await ClusterProcesses.StartAsync(2, arguments, "everysec", ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var victim = cluster.Silos[0];
        var survivor = cluster.Silos[1];

        var ids = new List<string>();
        for (var i = 0; ids.Count < Conversations; i++)
        {
            Assert.True(i < 40, $"no {Conversations} conversations were placed on {victim.Name}");
            var id = $"move-{i}-{Guid.NewGuid():N}";
            Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync(new Uri(victim.HttpBase, "/conversations"), new { id }, ct)).StatusCode);
            var first = await TurnAsync(http, victim.HttpBase, id, Questions[0], ct);
            if (cluster.SiloOf(first.GetProperty("silo").GetString()) != victim)
            {
                continue;
            }

            foreach (var question in Questions.Skip(1).Concat(Questions))
            {
                await TurnAsync(http, victim.HttpBase, id, question, ct);
            }

            ids.Add(id);
        }

        var history = new Dictionary<string, int>();
        foreach (var id in ids)
        {
            history[id] = (await http.GetFromJsonAsync<JsonElement>(new Uri(victim.HttpBase, $"/conversations/{id}"), ct)).GetProperty("history_tokens").GetInt32();
            Assert.True(history[id] >= 400, $"{id}: {history[id]} tokens of history");
        }

        var recomputedBefore = await CounterAsync(http, survivor.HttpBase, "autoglm_conversation_recomputed_tokens", ct);
        var importedBefore = await CounterAsync(http, survivor.HttpBase, "autoglm_conversation_kv_imported", ct);
        var stopped = await victim.TerminateAsync(TimeSpan.FromSeconds(60));
        Assert.True(stopped.Exited, victim.Tail(40));
        var moves = await CounterAsync(http, survivor.HttpBase, "autoglm_conversation_kv_imported", ct) - importedBefore;

        var control = $"control-{Guid.NewGuid():N}";
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync(new Uri(survivor.HttpBase, "/conversations"), new { id = control }, ct)).StatusCode);
        foreach (var question in Questions.Concat(Questions))
        {
            await TurnAsync(http, survivor.HttpBase, control, question, ct);
        }

        const string Next = "Thank you. Now tell me what the children of the town do after school.";
        var expected = (await TurnAsync(http, survivor.HttpBase, control, Next, ct)).GetProperty("content").GetString();
        var cached = new List<string>();
        foreach (var id in ids)
        {
            var reply = await TurnAsync(http, survivor.HttpBase, id, Next, ct);
            Assert.Equal(survivor, cluster.SiloOf(reply.GetProperty("silo").GetString()));
            var hits = reply.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
            cached.Add($"{hits}/{history[id]}");
            Assert.True(hits >= 0.9 * history[id], $"{id}: {hits} cached of {history[id]} history tokens after the move ({moves} moved)");
            Assert.Equal(expected, reply.GetProperty("content").GetString());
        }

        var recomputed = await CounterAsync(http, survivor.HttpBase, "autoglm_conversation_recomputed_tokens", ct) - recomputedBefore;
        FigureLog.Write($"kv migration ({layout}): SIGTERM with {ids.Count} conversations; silo exited after {stopped.Elapsed.TotalSeconds:F2}s, "
            + $"{moves} moved with their KV; next turns cached {string.Join(", ", cached)}; recomputed {recomputed} tokens");
        Assert.Equal(ids.Count, moves);
        Assert.Equal(0, recomputed);
    }

    private static async Task<JsonElement> TurnAsync(HttpClient http, Uri via, string id, string content, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(new Uri(via, $"/conversations/{id}/messages"),
            new { content, max_tokens = 40, temperature = 0 }, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>A counter's value summed over its series in the silo's /metrics (0 when it has none yet).</summary>
    private static async Task<double> CounterAsync(HttpClient http, Uri silo, string name, CancellationToken ct)
    {
        var text = await http.GetStringAsync(new Uri(silo, "/metrics"), ct);
        return text.Split('\n')
            .Where(l => l.StartsWith(name, StringComparison.Ordinal) && !l.StartsWith('#'))
            .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
            .Sum();
    }
}
