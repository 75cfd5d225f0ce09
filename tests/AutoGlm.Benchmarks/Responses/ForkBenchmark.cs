#pragma warning disable OPENAI001 // the Responses client is marked for evaluation in OpenAI 2.15
using System.Text.Json.Nodes;
using OpenAI.Responses;

namespace AutoGlm.Orleans.Benchmarks.Responses;

/// <summary>
/// A chain of five turns, then K forks of turn 3 (previous_response_id of turn 3, which is no longer the latest:
/// each fork is a new conversation whose KV the parent's silo copies). Each fork is paired with a fresh response
/// seeded with the same history as input items (a new conversation, nothing cached), run right beside it. Then
/// turn 6 of the main chain, to see it kept its own cache. Repeated with other messages.
/// </summary>
internal static class ForkBenchmark
{
    public const int ChainTurns = 5;
    public const int ForkedTurn = 3;

    public static async Task<JsonObject> RunAsync(OpenAiCalls api, UserMessages messages, int forks, int repeats)
    {
        var rows = new JsonArray();
        var forkTtft = new List<double>();
        var freshTtft = new List<double>();
        var ratios = new List<double>();
        var reuse = new List<double>();
        var mainReuse = new List<double>();
        for (var r = 0; r < repeats; r++)
        {
            var texts = messages.Draw(2000 + r, ChainTurns + 1 + forks, ChainBenchmark.Words);
            var chain = new List<StreamedTurn>();
            foreach (var text in texts.Take(ChainTurns))
            {
                chain.Add(await api.RespondAsync(api.Options([ResponseItem.CreateUserMessageItem(text)], chain.LastOrDefault()?.Id,
                    ChainBenchmark.MaxOutputTokens)));
            }

            var parent = chain[ForkedTurn - 1];
            var shared = parent.InputTokens + parent.OutputTokens;
            for (var k = 0; k < forks; k++)
            {
                var text = texts[ChainTurns + 1 + k];
                var forkOptions = api.Options([ResponseItem.CreateUserMessageItem(text)], parent.Id, ChainBenchmark.MaxOutputTokens);
                var seeded = new List<ResponseItem>();
                for (var t = 0; t < ForkedTurn; t++)
                {
                    seeded.Add(ResponseItem.CreateUserMessageItem(texts[t]));
                    seeded.Add(ResponseItem.CreateAssistantMessageItem(chain[t].Text));
                }

                seeded.Add(ResponseItem.CreateUserMessageItem(text));
                var freshOptions = api.Options(seeded, null, ChainBenchmark.MaxOutputTokens);
                StreamedTurn fork, fresh;
                if (k % 2 == 0)
                {
                    fork = await api.RespondAsync(forkOptions);
                    fresh = await api.RespondAsync(freshOptions);
                }
                else
                {
                    fresh = await api.RespondAsync(freshOptions);
                    fork = await api.RespondAsync(forkOptions);
                }

                forkTtft.Add(fork.TtftMs);
                freshTtft.Add(fresh.TtftMs);
                ratios.Add(fresh.TtftMs / fork.TtftMs);
                reuse.Add((double)fork.CachedTokens / shared);
                rows.Add(new JsonObject
                {
                    ["repeat"] = r + 1,
                    ["fork"] = k + 1,
                    ["shared_prefix_tokens"] = shared,
                    ["fork_input_tokens"] = fork.InputTokens,
                    ["fork_cached_tokens"] = fork.CachedTokens,
                    ["fork_cached_over_shared_prefix"] = Math.Round((double)fork.CachedTokens / shared, 3),
                    ["fresh_input_tokens"] = fresh.InputTokens,
                    ["fresh_cached_tokens"] = fresh.CachedTokens,
                    ["fork_ttft_ms"] = Figures.Ms(fork.TtftMs),
                    ["fresh_ttft_ms"] = Figures.Ms(fresh.TtftMs),
                    ["fresh_over_fork_ttft"] = Math.Round(fresh.TtftMs / fork.TtftMs, 3),
                });
            }

            var last = chain[^1];
            var turn6 = await api.RespondAsync(api.Options([ResponseItem.CreateUserMessageItem(texts[ChainTurns])], last.Id, ChainBenchmark.MaxOutputTokens));
            mainReuse.Add((double)turn6.CachedTokens / (last.InputTokens + last.OutputTokens));
            Console.Error.WriteLine($"forks: repeat {r + 1}/{repeats} done");
        }

        return new JsonObject
        {
            ["chain_turns"] = ChainTurns,
            ["forked_turn"] = ForkedTurn,
            ["forks_per_chain"] = forks,
            ["repeats"] = repeats,
            ["forks"] = rows,
            ["median_fork_ttft_ms"] = Figures.Ms(Figures.Median(forkTtft)),
            ["median_fresh_ttft_ms"] = Figures.Ms(Figures.Median(freshTtft)),
            ["median_fresh_over_fork_ttft"] = Math.Round(Figures.Median(ratios), 3),
            ["median_fork_cached_over_shared_prefix"] = Math.Round(Figures.Median(reuse), 3),
            ["min_fork_cached_over_shared_prefix"] = Math.Round(reuse.Min(), 3),
            ["main_chain_turn_6_cached_over_previous_min"] = Math.Round(mainReuse.Min(), 3),
        };
    }
}
