#pragma warning disable OPENAI001 // the Responses client is marked for evaluation in OpenAI 2.15
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI.Chat;
using OpenAI.Responses;

namespace AutoGlm.Orleans.Benchmarks.Responses;

/// <summary>
/// `responses [--json FILE] [--repeats N] [--forks K] [--model DIR]`: what the stateful OpenAI APIs cost and save, over
/// real HTTP with the OpenAI .NET SDK against a silo in this process (memory storage, the default model): a
/// previous_response_id chain against Chat Completions resending the history, forks against fresh seeded
/// responses, and truncation "auto" through the context window.
/// </summary>
internal static class ResponsesCommand
{
    public const string Usage = "responses [--json FILE] [--repeats N] [--forks K] [--model DIR]";

    public static async Task<int> RunAsync(string[] args, string defaultModel)
    {
        string? json = null;
        var model = defaultModel;
        var repeats = 10;
        var forks = 4;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = args[++i]; break;
                case "--model": model = args[++i]; break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--forks": forks = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }

        var messages = UserMessages.Load(model);
        await using var silo = await HttpSilo.StartAsync(model);
        var name = JsonDocument.Parse(await silo.Http.GetStringAsync("/v1/models")).RootElement.GetProperty("data")[0].GetProperty("id").GetString()!;
        var api = new OpenAiCalls(silo.BaseAddress, silo.Http, name);
        await WarmUpAsync(api, messages);

        var result = new JsonObject
        {
            ["machine"] = new JsonObject
            {
                ["cores"] = Environment.ProcessorCount,
                ["cpu"] = CpuModel(),
                ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["model"] = name,
                ["context_length"] = messages.ContextLength,
                ["silo"] = "in-process, Kestrel on 127.0.0.1, localhost clustering, memory storage, default engine options",
            },
            ["chain"] = await ChainBenchmark.RunAsync(api, messages, turns: 10, repeats),
            ["forks"] = await ForkBenchmark.RunAsync(api, messages, forks, repeats),
            ["truncation"] = await TruncationBenchmark.RunAsync(api, messages, turns: 30, repeats),
            ["kv_evictions"] = await api.CounterAsync("autoglm_kv_cache_evictions_total"),
            ["empty_replies"] = api.EmptyReplies,
        };
        var text = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        if (json is not null)
        {
            await File.WriteAllTextAsync(json, text + Environment.NewLine);
        }

        return 0;
    }

    /// <summary>Unmeasured: a short chain on each API, a fork and a seeded response, so JIT and first allocations stay out.</summary>
    private static async Task WarmUpAsync(OpenAiCalls api, UserMessages messages)
    {
        var texts = messages.Draw(7, 4, 20);
        StreamedTurn? previous = null;
        var history = new List<ChatMessage>();
        var chain = new List<StreamedTurn>();
        foreach (var text in texts.Take(3))
        {
            previous = await api.RespondAsync(api.Options([ResponseItem.CreateUserMessageItem(text)], previous?.Id, 8));
            chain.Add(previous);
            history.Add(new UserChatMessage(text));
            history.Add(new AssistantChatMessage((await api.ChatAsync(history, 8)).Text));
        }

        await api.RespondAsync(api.Options([ResponseItem.CreateUserMessageItem(texts[3])], chain[0].Id, 8));
        await api.RespondAsync(api.Options(
            [ResponseItem.CreateUserMessageItem(texts[0]), ResponseItem.CreateAssistantMessageItem(chain[0].Text), ResponseItem.CreateUserMessageItem(texts[3])],
            null, 8));
        await api.TruncatedTokensAsync(chain[^1].Id);
    }

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
