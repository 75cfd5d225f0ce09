#pragma warning disable OPENAI001 // the Responses client is marked for evaluation in OpenAI 2.15
using System.Text.Json.Nodes;
using OpenAI.Chat;
using OpenAI.Responses;

namespace AutoGlm.Orleans.Benchmarks.Responses;

/// <summary>
/// One conversation of N turns two ways, turn by turn side by side on the same messages: a Responses chain (each
/// turn names the previous response, the server holds the history and its KV) and Chat Completions resending the
/// whole history (the stateless client, which the server maps back onto a conversation by hashing the history).
/// Repeated with other messages; per turn the median TTFT of each and their ratio.
/// </summary>
internal static class ChainBenchmark
{
    public const int Words = 60;
    public const int MaxOutputTokens = 32;

    public static async Task<JsonObject> RunAsync(OpenAiCalls api, UserMessages messages, int turns, int repeats)
    {
        var responses = new List<StreamedTurn>[turns];
        var chats = new List<StreamedTurn>[turns];
        var reuse = new List<double>[turns];
        for (var t = 0; t < turns; t++)
        {
            (responses[t], chats[t], reuse[t]) = ([], [], []);
        }

        var sameReplies = 0;
        for (var r = 0; r < repeats; r++)
        {
            var texts = messages.Draw(1000 + r, turns, Words);
            StreamedTurn? previous = null;
            var history = new List<ChatMessage>();
            for (var t = 0; t < turns; t++)
            {
                var options = api.Options([ResponseItem.CreateUserMessageItem(texts[t])], previous?.Id, MaxOutputTokens);
                history.Add(new UserChatMessage(texts[t]));
                StreamedTurn response, chat;
                // Alternate which goes first, so neither always runs right after the other's decode.
                if (t % 2 == 0)
                {
                    response = await api.RespondAsync(options);
                    chat = await api.ChatAsync(history, MaxOutputTokens);
                }
                else
                {
                    chat = await api.ChatAsync(history, MaxOutputTokens);
                    response = await api.RespondAsync(options);
                }

                history.Add(new AssistantChatMessage(chat.Text));
                sameReplies += response.Text == chat.Text ? 1 : 0;
                responses[t].Add(response);
                chats[t].Add(chat);
                if (previous is not null)
                {
                    reuse[t].Add((double)response.CachedTokens / (previous.InputTokens + previous.OutputTokens));
                }

                previous = response;
            }

            Console.Error.WriteLine($"chain: repeat {r + 1}/{repeats} done");
        }

        var rows = new JsonArray();
        var ratios = new List<double>();
        for (var t = 0; t < turns; t++)
        {
            var ttft = Figures.Median(responses[t].Select(x => x.TtftMs));
            var chatTtft = Figures.Median(chats[t].Select(x => x.TtftMs));
            var ratio = chatTtft / ttft;
            if (t > 0)
            {
                ratios.Add(ratio);
            }

            rows.Add(new JsonObject
            {
                ["turn"] = t + 1,
                ["input_tokens"] = Figures.Median(responses[t].Select(x => (double)x.InputTokens)),
                ["cached_tokens"] = Figures.Median(responses[t].Select(x => (double)x.CachedTokens)),
                ["output_tokens"] = Figures.Median(responses[t].Select(x => (double)x.OutputTokens)),
                ["cached_over_previous_input_plus_output"] = t == 0 ? null : Math.Round(Figures.Median(reuse[t]), 3),
                ["cached_over_previous_min"] = t == 0 ? null : Math.Round(reuse[t].Min(), 3),
                ["ttft_ms"] = Figures.Ms(ttft),
                ["ttft_ms_samples"] = Figures.Array(responses[t].Select(x => x.TtftMs)),
                ["chat_input_tokens"] = Figures.Median(chats[t].Select(x => (double)x.InputTokens)),
                ["chat_cached_tokens"] = Figures.Median(chats[t].Select(x => (double)x.CachedTokens)),
                ["chat_ttft_ms"] = Figures.Ms(chatTtft),
                ["chat_ttft_ms_samples"] = Figures.Array(chats[t].Select(x => x.TtftMs)),
                ["chat_over_responses_ttft"] = Math.Round(ratio, 3),
            });
        }

        return new JsonObject
        {
            ["turns"] = turns,
            ["repeats"] = repeats,
            ["user_words"] = Words,
            ["max_output_tokens"] = MaxOutputTokens,
            ["identical_replies"] = $"{sameReplies} of {turns * repeats}",
            ["by_turn"] = rows,
            ["median_chat_over_responses_ttft_turns_2_on"] = Math.Round(Figures.Median(ratios), 3),
            ["median_chat_over_responses_ttft_all_turns"] = Math.Round(Figures.Median(rows.Select(x => x!["chat_over_responses_ttft"]!.GetValue<double>())), 3),
            ["min_cached_over_previous"] = Math.Round(reuse.Skip(1).SelectMany(x => x).Min(), 3),
        };
    }
}
