using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// Our silo as users run it: Kestrel, POST /v1/chat/completions from a stateless OpenAI-style client that sends the
/// whole message history every turn, streamed as SSE. The silo finds the conversation by hashing that history
/// (the conversation index), so turn N runs on the grain that holds turns 1..N-1 as token ids: the tokens are the
/// workload's exactly, as for the Orleans-client <c>cluster</c> system, never the text re-tokenized. Each turn
/// checks that it ran on the same conversation as the turn before (the X-Conversation-Id header), since a miss would
/// re-tokenize the history and the tokens would no longer be the workload's.
/// </summary>
public sealed class ClusterHttpSystem : IChatSystem
{
    private readonly HttpSilo _silo;
    private readonly HttpClient _http;
    private readonly string _model;
    private readonly ConcurrentDictionary<string, Conversation> _conversations = new();

    private ClusterHttpSystem(HttpSilo silo, HttpClient http, string model)
    {
        _silo = silo;
        _http = http;
        _model = model;
    }

    /// <summary>Engine settings as the <c>cluster</c> system sets them, so the two differ only in the client's path.</summary>
    public static async Task<ClusterHttpSystem> StartAsync(string modelPath, int intraOpThreads, CancellationToken cancellationToken)
    {
        var silo = await HttpSilo.StartAsync(modelPath,
        [
            "--Engine:IntraOpThreads", intraOpThreads.ToString(CultureInfo.InvariantCulture),
            "--Engine:MaxBatchSize", "32",
            "--Engine:MaxTokensPerStep", "512",
        ]).ConfigureAwait(false);
        var http = HttpSse.CreateClient(silo.BaseAddress);
        try
        {
            using var models = JsonDocument.Parse(await http.GetStringAsync(new Uri("/v1/models", UriKind.Relative), cancellationToken).ConfigureAwait(false));
            var model = models.RootElement.GetProperty("data")[0].GetProperty("id").GetString()
                ?? throw new InvalidDataException("GET /v1/models named no model");
            return new ClusterHttpSystem(silo, http, model);
        }
        catch
        {
            http.Dispose();
            await silo.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async IAsyncEnumerable<TurnChunk> SendAsync(string conversationId, ChatTurn turn,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        var conversation = _conversations.GetOrAdd(conversationId, _ => new Conversation());
        var messages = new JsonArray([.. conversation.Messages.Select(m => (JsonNode?)m.DeepClone())]) { Message("user", turn.UserText) };
        var body = new JsonObject
        {
            ["model"] = _model,
            ["messages"] = messages,
            ["stream"] = true,
            // include_token_counts is our extension: each chunk says how many tokens the reply has so far, so every
            // token is timed when it arrives (the text alone cannot say how many tokens a chunk holds).
            ["stream_options"] = new JsonObject { ["include_usage"] = true, ["include_token_counts"] = true },
            ["max_tokens"] = turn.ReplyTokens,
            // vLLM's extension, which our API takes: no end-of-turn token ends the reply before max_tokens.
            ["ignore_eos"] = true,
            ["temperature"] = 0,
        };
        string? served = null;
        var reply = new StringBuilder();
        var seen = 0;
        TurnUsage? usage = null;
        await foreach (var e in HttpSse.PostAsync(_http, "/v1/chat/completions", body,
                           headers => served = headers.TryGetValues("X-Conversation-Id", out var ids) ? ids.FirstOrDefault() : null, cancellationToken)
                           .ConfigureAwait(false))
        {
            if (e.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            {
                reply.Append(content.GetString());
            }

            if (e.TryGetProperty("completion_tokens", out var count) && count.GetInt32() > seen)
            {
                yield return new TurnChunk(count.GetInt32() - seen);
                seen = count.GetInt32();
            }

            if (e.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object)
            {
                usage = new TurnUsage(u.GetProperty("prompt_tokens").GetInt32(),
                    u.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(), u.GetProperty("completion_tokens").GetInt32());
            }
        }

        if (usage is null)
        {
            throw new InvalidDataException("the stream ended without its usage chunk");
        }

        if (served is null || (conversation.ServedBy is not null && conversation.ServedBy != served))
        {
            throw new InvalidOperationException(
                $"turn {turn.Index} ran on conversation '{served}', not '{conversation.ServedBy}': the silo did not find the history by its "
                + "messages, so it re-tokenized the text and the tokens are no longer the workload's");
        }

        conversation.ServedBy = served;
        conversation.Messages = [.. messages.Select(m => m!.AsObject()), Message("assistant", reply.ToString())];
        yield return new TurnChunk(0, usage);
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _silo.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>What the client keeps between turns: the messages so far and the conversation the silo put them in.</summary>
    private sealed class Conversation
    {
        public IReadOnlyList<JsonObject> Messages { get; set; } = [];

        public string? ServedBy { get; set; }
    }
}
