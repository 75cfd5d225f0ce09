using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// llama.cpp's llama-server on a GGUF of the same weights (tools/llamacpp/build.sh), started for one concurrency
/// with <c>--parallel C --ctx-size C×context --cont-batching</c> and our engines' thread count. The client is
/// stateless, as an OpenAI client is: every turn POSTs the whole history to llama.cpp's native /completion, with
/// <c>cache_prompt</c>, so its slot reuse (the slot whose cache best matches the prompt, and the longest common
/// prefix within it) is what saves the prefill. The history goes as token ids, not text, so the prompt is the
/// workload's exactly: re-tokenizing a generated reply need not give back its tokens. Greedy, <c>ignore_eos</c>,
/// <c>n_predict</c> = the drawn length; the cached-token count is the server's own (<c>timings.cache_n</c>).
/// </summary>
public sealed class LlamaCppSystem : IChatSystem, IProfiledSystem
{
    private readonly LlamaServerProcess _server;
    private readonly HttpClient _http;
    private readonly WithheldTokens _withheld;
    private readonly ConcurrentDictionary<string, List<int>> _histories = new();

    private LlamaCppSystem(LlamaServerProcess server, HttpClient http, WithheldTokens withheld)
    {
        _server = server;
        _http = http;
        _withheld = withheld;
    }

    /// <param name="server">llama-server.</param>
    /// <param name="gguf">The model file.</param>
    /// <param name="concurrency">Clients, and so slots.</param>
    /// <param name="contextLength">Each slot's context: the model's.</param>
    /// <param name="threads">Threads for generation and for prompt processing, as our engines' intra-op threads.</param>
    /// <param name="withheld">Recovers the token ids llama-server's stream leaves out.</param>
    public static async Task<LlamaCppSystem> StartAsync(string server, string gguf, int concurrency, int contextLength, int threads,
        WithheldTokens withheld, CancellationToken cancellationToken)
    {
        var process = await LlamaServerProcess.StartAsync(server, Arguments(gguf, concurrency, contextLength, threads), cancellationToken)
            .ConfigureAwait(false);
        return new LlamaCppSystem(process, HttpSse.CreateClient(process.BaseAddress), withheld);
    }

    /// <summary>The server's command line, without host and port.</summary>
    public static IReadOnlyList<string> Arguments(string gguf, int concurrency, int contextLength, int threads)
    {
        string N(int value) => value.ToString(CultureInfo.InvariantCulture);
        return
        [
            "--model", gguf,
            "--parallel", N(concurrency),
            // Split evenly across the slots (no unified KV by default): each slot holds one whole conversation.
            "--ctx-size", N(concurrency * contextLength),
            "--cont-batching",
            "--threads", N(threads),
            "--threads-batch", N(threads),
            "--no-webui",
        ];
    }

    public async IAsyncEnumerable<TurnChunk> SendAsync(string conversationId, ChatTurn turn,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        var history = _histories.GetOrAdd(conversationId, _ => []);
        var prompt = new List<int>(history.Count + turn.SegmentTokenIds.Length + turn.ReplyTokens);
        prompt.AddRange(history);
        prompt.AddRange(turn.SegmentTokenIds);
        var body = new JsonObject
        {
            ["prompt"] = new JsonArray([.. prompt.Select(id => (JsonNode?)id)]),
            ["n_predict"] = turn.ReplyTokens,
            ["ignore_eos"] = true,
            ["cache_prompt"] = true,
            ["temperature"] = 0,
            ["top_k"] = 1,
            ["stream"] = true,
            ["return_tokens"] = true,
        };
        var reply = new List<int>(turn.ReplyTokens);
        var seen = 0;
        TurnUsage? usage = null;
        await foreach (var e in HttpSse.PostAsync(_http, "/completion", body, null, cancellationToken).ConfigureAwait(false))
        {
            // tokens_predicted counts every token generated so far, also those the stream has not shown yet.
            var predicted = e.GetProperty("tokens_predicted").GetInt32();
            if (e.TryGetProperty("stop", out var stop) && stop.GetBoolean())
            {
                if (predicted > seen)
                {
                    _withheld.LostAtEnd(predicted - seen);
                    yield return new TurnChunk(predicted - seen);
                    seen = predicted;
                }

                usage = new TurnUsage(e.GetProperty("tokens_evaluated").GetInt32(),
                    e.GetProperty("timings").GetProperty("cache_n").GetInt32(), predicted);
                continue;
            }

            if (predicted <= seen)
            {
                continue;
            }

            var ids = e.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray();
            var missing = predicted - seen - ids.Length;
            if (missing > 0)
            {
                reply.AddRange(_withheld.Recover(e.GetProperty("content").GetString() ?? "", ids, missing));
            }

            reply.AddRange(ids);
            yield return new TurnChunk(predicted - seen);
            seen = predicted;
        }

        if (usage is null)
        {
            throw new InvalidDataException("the stream ended without its final event (stop: true)");
        }

        prompt.AddRange(reply);
        _histories[conversationId] = prompt;
        yield return new TurnChunk(0, usage);
    }

    public void BeginProfile() => _withheld.Reset();

    public string Profile(RunResult run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return FormattableString.Invariant($"c={run.Concurrency}, llama-server pid {_server.Pid}: {_withheld.Summary()}");
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync().ConfigureAwait(false);
    }
}
