#pragma warning disable OPENAI001 // the Responses client is marked for evaluation in OpenAI 2.15
using System.Text.Json.Nodes;
using OpenAI.Responses;

namespace AutoGlm.Orleans.Benchmarks.Responses;

/// <summary>
/// A Responses chain of N turns of long messages through the context window with truncation "auto" (the oldest
/// turns dropped down to half the window at once, the kept view re-prefilled once), then the same messages with
/// truncation "disabled" on a new conversation until it is refused. Repeated with other messages.
/// </summary>
/// <remarks>
/// The input tokens computed (input − cached) are compared with an estimate of what a sliding policy that drops
/// just enough of the oldest turns to fit (one turn each time, once full) would compute. The estimate replays the
/// recorded token counts: the tokens turn t adds before its reply, s_t = (input_t + truncated_t) −
/// (input_{t−1} + truncated_{t−1}) − output_{t−1}; each exchange is s_t + output_t. A turn that has to drop
/// re-prefills its whole view (every kept token moves to a new position, so no KV survives); one that does not
/// computes s_t + δ, δ being the median of (input − cached − s_t) over this run's turns that kept their cache.
/// The same replay with the half-window target models our own policy: it should land near the measured sum,
/// which checks the replay.
/// </remarks>
internal static class TruncationBenchmark
{
    public const int Words = 90;
    public const int MaxOutputTokens = 24;

    public static async Task<JsonObject> RunAsync(OpenAiCalls api, UserMessages messages, int turns, int repeats)
    {
        var runs = new JsonArray();
        var refillTtft = new List<double>();
        var otherTtft = new List<double>();
        var measured = 0L;
        var dropOne = 0.0;
        for (var r = 0; r < repeats; r++)
        {
            var texts = messages.Draw(3000 + r, turns, Words);
            var computedBefore = await api.CounterAsync("autoglm_computed_prompt_tokens_total");
            var records = new List<(StreamedTurn Turn, int Truncated)>();
            foreach (var text in texts)
            {
                var turn = await api.RespondAsync(api.Options([ResponseItem.CreateUserMessageItem(text)], records.LastOrDefault().Turn?.Id,
                    MaxOutputTokens, truncateAuto: true));
                records.Add((turn, await api.TruncatedTokensAsync(turn.Id)));
            }

            var serverComputed = await api.CounterAsync("autoglm_computed_prompt_tokens_total") - computedBefore;
            var refill = records.Select((x, t) => t > 0 && x.Truncated > records[t - 1].Truncated).ToArray();
            for (var t = 1; t < turns; t++)
            {
                (refill[t] ? refillTtft : otherTtft).Add(records[t].Turn.TtftMs);
            }

            var computed = records.Sum(x => (long)x.Turn.InputTokens - x.Turn.CachedTokens);
            var replay = Replay(records, refill, messages.ContextLength);
            measured += computed;
            dropOne += replay.DropOne.Computed;
            var refusedAt = await DisabledUntilRefusedAsync(api, texts);
            runs.Add(new JsonObject
            {
                ["repeat"] = r + 1,
                ["refill_turns"] = Figures.Array(Enumerable.Range(1, turns).Where(t => refill[t - 1])),
                ["refills"] = refill.Count(x => x),
                ["computed_input_tokens"] = computed,
                ["server_computed_prompt_tokens"] = serverComputed,
                ["replay_half_window_computed"] = replay.Half.Computed,
                ["replay_half_window_refills"] = replay.Half.Refills,
                ["replay_drop_one_computed"] = replay.DropOne.Computed,
                ["replay_drop_one_refills"] = replay.DropOne.Refills,
                ["delta_tokens"] = replay.Delta,
                ["computed_over_drop_one"] = Figures.Ratio(computed, replay.DropOne.Computed),
                ["disabled_refused_at_turn"] = refusedAt.Turn,
                ["disabled_refusal"] = refusedAt.Code,
                ["turns"] = new JsonArray([.. records.Select((x, t) => (JsonNode)new JsonObject
                {
                    ["turn"] = t + 1,
                    ["input_tokens"] = x.Turn.InputTokens,
                    ["cached_tokens"] = x.Turn.CachedTokens,
                    ["output_tokens"] = x.Turn.OutputTokens,
                    ["truncated_tokens"] = x.Truncated,
                    ["refill"] = refill[t],
                    ["ttft_ms"] = Figures.Ms(x.Turn.TtftMs),
                })]),
            });
            Console.Error.WriteLine($"truncation: repeat {r + 1}/{repeats} done");
        }

        var refillMedian = Figures.Median(refillTtft);
        var otherMedian = Figures.Median(otherTtft);
        return new JsonObject
        {
            ["turns"] = turns,
            ["repeats"] = repeats,
            ["user_words"] = Words,
            ["max_output_tokens"] = MaxOutputTokens,
            ["context_length"] = messages.ContextLength,
            ["median_refill_ttft_ms"] = Figures.Ms(refillMedian),
            ["median_other_ttft_ms"] = Figures.Ms(otherMedian),
            ["refill_over_other_ttft"] = Figures.Ratio(refillMedian, otherMedian),
            ["refill_samples"] = refillTtft.Count,
            ["other_samples"] = otherTtft.Count,
            ["computed_input_tokens"] = measured,
            ["replay_drop_one_computed"] = Math.Round(dropOne),
            ["computed_over_drop_one"] = Figures.Ratio(measured, dropOne),
            ["runs"] = runs,
        };
    }

    private static async Task<(int? Turn, string? Code)> DisabledUntilRefusedAsync(OpenAiCalls api, IReadOnlyList<string> texts)
    {
        string? previous = null;
        for (var t = 0; t < texts.Count; t++)
        {
            try
            {
                previous = (await api.RespondAsync(api.Options([ResponseItem.CreateUserMessageItem(texts[t])], previous, MaxOutputTokens))).Id;
            }
            catch (ApiErrorException ex)
            {
                return (t + 1, $"{ex.Status?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "stream error event"} {ex.Code}");
            }
        }

        return (null, null);
    }

    private sealed record Policy(long Computed, int Refills);

    private sealed record ReplayResult(Policy Half, Policy DropOne, double Delta);

    /// <summary>Replays the recorded token counts under a policy (see the remarks on the class).</summary>
    private static ReplayResult Replay(List<(StreamedTurn Turn, int Truncated)> records, bool[] refill, int context)
    {
        var s = new int[records.Count];
        for (var t = 0; t < records.Count; t++)
        {
            var (turn, truncated) = records[t];
            s[t] = t == 0 ? turn.InputTokens
                : turn.InputTokens + truncated - records[t - 1].Turn.InputTokens - records[t - 1].Truncated - records[t - 1].Turn.OutputTokens;
        }

        var delta = Figures.Median(Enumerable.Range(1, records.Count - 1).Where(t => !refill[t])
            .Select(t => (double)(records[t].Turn.InputTokens - records[t].Turn.CachedTokens - s[t])));
        Policy Run(int target)
        {
            var kept = new Queue<int>();
            long view = 0, computed = 0;
            var refills = 0;
            for (var t = 0; t < records.Count; t++)
            {
                var tail = s[t] + MaxOutputTokens;
                if (t > 0 && view + tail > context)
                {
                    while (kept.Count > 0 && view + tail > target)
                    {
                        view -= kept.Dequeue();
                    }

                    computed += view + s[t];
                    refills++;
                }
                else
                {
                    computed += t == 0 ? s[0] : s[t] + (long)delta;
                }

                var exchange = s[t] + records[t].Turn.OutputTokens;
                kept.Enqueue(exchange);
                view += exchange;
            }

            return new Policy(computed, refills);
        }

        return new ReplayResult(Run(context / 2), Run(context), delta);
    }
}
