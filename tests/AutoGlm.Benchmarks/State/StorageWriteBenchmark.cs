using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Benchmarks.State;

/// <summary>
/// What one turn writes to Redis, at turn 1 and turn N of one conversation: the payload the store sends, and what
/// Redis itself appended to its append-only file (INFO persistence aof_current_size), on a real redis-server with
/// AOF. Beside it, the bytes the previous design rewrote per turn (every message plus a reply copy per applied
/// request id, up to 256), computed by serializing those same messages and replies with the same serializer.
/// </summary>
internal static class StorageWriteBenchmark
{
    public static async Task<JsonObject> RunAsync(string modelPath, int turns)
    {
        var manifest = ModelFolder.Load(modelPath);
        var prompts = new PromptBuilder(TokenizerLoader.Load(manifest.Tokenizer, modelPath), ChatTemplates.Get(manifest.ChatTemplate), manifest);
        var serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();
        await using var redis = await RedisWithAof.StartAsync();
        using var connection = await ConnectionMultiplexer.ConnectAsync(RedisConnections.Options(redis.ConnectionString));
        var store = new RedisConversationStore(connection, serializer, new RedisKeys("bench", "state"), new ConversationOptions());
        using var admin = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);

        var log = ConversationLog.Empty(256);
        var rows = new JsonArray();
        var replies = new List<ConversationReply>();
        var now = DateTimeOffset.UtcNow;
        long wholeState = 0;
        for (var turn = 1; turn <= turns; turn++)
        {
            // A fixed-size exchange each turn (small enough that 50 fit the 2,048-token window), so turn N and turn 1
            // differ only by what the design makes them differ by.
            var request = new TurnRequest($"turn-{turn:D4}", "What is the weather like today?");
            var plan = TurnPlanner.Plan(log, request, "c1", prompts, now);
            const string reply = "It is sunny and warm with a light breeze.";
            var generated = prompts.Encode(reply);
            var usage = new TurnUsage { PromptTokens = plan.Work.PromptTokenIds.Count, CompletionTokens = generated.Length };
            var (user, assistant, start, length) = TurnPlanner.Messages(plan, prompts, reply, generated, ReplyFinishReason.Stop, usage, now);
            var change = log.PlanTurn(plan.RequestId, plan.Fingerprint, null, user, assistant, start, length, "silo", 0, now);

            var aofBefore = AofSize(server);
            var result = await store.CommitAsync("c1", change);
            var aofAfter = AofSize(server);
            if (result.Outcome != CommitOutcome.Committed)
            {
                throw new InvalidOperationException($"turn {turn}: {result.Outcome}");
            }

            log.Apply(change);
            replies.Add(new ConversationReply { RequestId = request.RequestId, Text = reply, TokenIds = generated, Usage = usage });
            wholeState = serializer.SerializeToArray(log.Messages.ToList()).Length + serializer.SerializeToArray(replies.TakeLast(256).ToList()).Length;
            if (turn == 1 || turn == 2 || turn == 10 || turn == turns)
            {
                rows.Add(new JsonObject
                {
                    ["turn"] = turn,
                    ["payload_bytes"] = result.BytesWritten,
                    ["aof_bytes"] = aofAfter - aofBefore,
                    ["previous_design_bytes"] = wholeState,
                    ["history_tokens"] = log.HistoryTokens,
                });
            }
        }

        var first = rows[0]!.AsObject();
        var last = rows[^1]!.AsObject();
        return new JsonObject
        {
            ["turns"] = turns,
            ["redis"] = "redis-server, appendonly yes, appendfsync everysec",
            ["by_turn"] = rows,
            ["aof_bytes_turn_n_over_turn_1"] = Ratio(last["aof_bytes"]!.GetValue<long>(), first["aof_bytes"]!.GetValue<long>()),
            ["previous_design_over_now_at_turn_n"] = Ratio(last["previous_design_bytes"]!.GetValue<long>(), last["aof_bytes"]!.GetValue<long>()),
        };
    }

    private static long AofSize(IServer server)
    {
        var persistence = server.Info("persistence").SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        return long.Parse(persistence["aof_current_size"], CultureInfo.InvariantCulture);
    }

    private static double Ratio(long a, long b) => Math.Round((double)a / Math.Max(1, b), 2);
}
