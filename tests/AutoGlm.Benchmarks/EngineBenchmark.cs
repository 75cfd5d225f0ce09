using System.Diagnostics;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;
using AutoGlm.Orleans.Inference.Sampling;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Benchmarks;

/// <summary>
/// Decode throughput of ONNX Runtime alone (raw) vs the same work through the engine's scheduler, and
/// time to first token per turn of a long conversation with and without prefix reuse. <paramref name="variant"/>
/// picks the model's graph (null: the folder's default, the shared-buffer graph; "optimum": the Concat graph).
/// </summary>
/// <paramref name="steps"/>: decode steps per measurement (0: 64, or 16 with <paramref name="quick"/>); <paramref name="label"/>: the
/// layout's name in the log (default: the variant).
internal sealed class EngineBenchmark(string modelPath, string? variant, int threads, bool quick, IntraOpSpinning spinning, ExecutionDevice device = ExecutionDevice.Cpu, int steps = 0, string? label = null)
{
    /// <summary>Prompt lengths and batch sizes of the decode section (the command's --contexts, --batches).</summary>
    public int[] Contexts { get; init; } = DefaultContexts;

    public static int[] DefaultContexts => [512, 1536];

    public int[] Batches { get; init; } = DefaultBatches(device);

    /// <summary>
    /// Positions the raw loop's shared buffer and attention mask get beyond what it needs, the mask zero over them (the
    /// command's --raw-padding): the engine's batch block has such headroom (256 positions, rounded to 64), so this
    /// runs the raw forward in the engine's shape.
    /// </summary>
    public int RawPadding { get; init; }

    public static int[] DefaultBatches(ExecutionDevice device) => device == ExecutionDevice.Cpu ? [1, 8, 32] : [1, 8, 32, 64];
    private int DecodeSteps => steps > 0 ? steps : quick ? 16 : 64;

    private string Label => label ?? variant ?? "shared";

    public async Task<JsonArray> DecodeAsync()
    {
        var rows = new JsonArray();
        foreach (var context in quick ? Contexts[..1] : Contexts)
        {
            foreach (var batch in Batches)
            {
                // The raw loop keeps its KV in host memory: on a GPU only the engine's device-resident path is measured.
                var raw = device == ExecutionDevice.Cpu ? RawDecode(batch, context) : double.NaN;
                var (scheduler, bytesPerToken, processBytesPerToken, steady) = await SchedulerDecodeAsync(batch, context);
                Console.Error.WriteLine($"[{Label}] decode batch {batch,2} context {context}: raw {raw,8:F1} tok/s  scheduler {scheduler,8:F1} tok/s  ratio {scheduler / raw:F3}  allocated: scheduler thread {bytesPerToken,6:F1} B/token, process {processBytesPerToken,7:F1} B/token");
                // Where a steady step goes: the engine's forward against raw's (batch / raw tokens a second), and the rest.
                Console.Error.WriteLine($"  [{Label}] steady window, {steady.Steps} steps: forward {steady.ForwardMs:F2} ms a step (raw {batch * 1000 / raw:F2}), sampling+emission {steady.EmitMs:F2} ms, step {batch * 1000 / scheduler:F2} ms");
                var row = Row(batch, context, raw, scheduler, bytesPerToken, processBytesPerToken);
                row["steady_forward_ms_per_step"] = Math.Round(steady.ForwardMs, 3);
                row["steady_emit_ms_per_step"] = Math.Round(steady.EmitMs, 3);
                rows.Add(row);
            }
        }

        return rows;
    }

    private static JsonObject Row(int batch, int context, double raw, double scheduler, double bytesPerToken, double processBytesPerToken) => new()
    {
        ["batch"] = batch,
        ["context"] = context,
        ["raw_tokens_per_s"] = double.IsNaN(raw) ? null : Math.Round(raw, 1),
        ["scheduler_tokens_per_s"] = Math.Round(scheduler, 1),
        ["ratio"] = double.IsNaN(raw) ? null : Math.Round(scheduler / raw, 3),
        ["scheduler_thread_bytes_per_token"] = Math.Round(bytesPerToken, 1),
        ["process_bytes_per_token"] = Math.Round(processBytesPerToken, 1),
    };

    /// <summary>ONNX Runtime's forward alone: the KV fed back as the next past, nothing else.</summary>
    private double RawDecode(int batch, int context)
    {
        const int warmup = 3;
        using var loop = new Raw.RawDecodeLoop(modelPath, variant, threads, spinning, batch, context, warmup + DecodeSteps, RawPadding);
        loop.Run(warmup);
        return batch * DecodeSteps / loop.Run(DecodeSteps).TotalSeconds;
    }

    /// <summary>
    /// The same decode work through the engine: <paramref name="batch"/> concurrent requests. Also what a decoded
    /// token costs the garbage collector: the scheduler thread's allocated bytes (GC.GetAllocatedBytesForCurrentThread,
    /// which the engine publishes each step in EngineStats) over the steady window, divided by the tokens decoded in it.
    /// </summary>
    internal async Task<(double TokensPerSecond, double BytesPerToken, double ProcessBytesPerToken, (double ForwardMs, double EmitMs, long Steps) Steady)> SchedulerDecodeAsync(int batch, int context)
    {
        using var engine = InferenceEngine.Create(new EngineOptions
        {
            ModelPath = modelPath,
            ModelVariant = variant,
            IntraOpThreads = threads,
            Device = device,
            IntraOpSpinning = spinning,
            MaxBatchSize = Math.Max(batch, 1),
            MaxTokensPerStep = Math.Max(context, batch),
        });
        var random = new Random(2);
        var maxNewTokens = batch + DecodeSteps + 4;
        var window = new SteadyWindow(engine, batch, maxNewTokens);
        var tasks = new List<Task<List<long>>>();
        for (var r = 0; r < batch; r++)
        {
            var prompt = new int[context];
            for (var i = 0; i < prompt.Length; i++)
            {
                prompt[i] = random.Next(200, 40000);
            }

            var request = new GenerationRequest(engine.GetOrCreateHandle($"row-{r}"), prompt,
                new SamplingOptions { Temperature = 0f, MaxNewTokens = maxNewTokens }) { StopTokenIds = [] };
            tasks.Add(CollectTimestampsAsync(engine.Submit(request), window));
        }

        var stamps = await Task.WhenAll(tasks);
        var stats = engine.GetStats();
        Console.Error.WriteLine($"  [{Label}] scheduler batch {batch}: {stats.Steps} steps, {stats.Repacks} re-packs, decode forwards {stats.DecodeForwardSeconds * 1000:F0} ms, sampling+streaming {stats.DecodeEmitSeconds * 1000:F0} ms");
        // Steady state: from the moment every row is decoding until the first row finishes.
        var start = stamps.Max(s => s[0]);
        var end = stamps.Min(s => s[^1]);
        var tokens = stamps.Sum(s => s.Count(t => t > start && t <= end));
        return (tokens / Stopwatch.GetElapsedTime(start, end).TotalSeconds, window.BytesPerToken, window.ProcessBytesPerToken, window.PerStep);
    }

    private static async Task<List<long>> CollectTimestampsAsync(System.Threading.Channels.ChannelReader<GenerationChunk> reader, SteadyWindow window)
    {
        var stamps = new List<long>();
        await foreach (var chunk in reader.ReadAllAsync())
        {
            if (chunk.TokenId is not null)
            {
                stamps.Add(Stopwatch.GetTimestamp());
                window.Token(stamps.Count);
            }
        }

        return stamps;
    }

    /// <summary>
    /// Allocations over the steady window, from two steps after the last row starts decoding (its first steps bind the
    /// batch anew) until a row's last token but one (its last step leaves the batch): the scheduler thread's (the
    /// engine's stats) per decoded token, and the whole process's (GC.GetTotalAllocatedBytes(precise), consumers and
    /// thread pool included) per streamed token.
    /// </summary>
    private sealed class SteadyWindow(InferenceEngine engine, int rows, int maxNewTokens)
    {
        private const int SettleTokens = 3;
        private int _started;
        private int _ending;
        private long _tokens;
        private (EngineStats Stats, long Process, long Tokens)? _first;
        private (EngineStats Stats, long Process, long Tokens)? _last;

        /// <summary>A row received its <paramref name="count"/>th token.</summary>
        public void Token(int count)
        {
            var tokens = Interlocked.Increment(ref _tokens);
            if (count == SettleTokens && Interlocked.Increment(ref _started) == rows)
            {
                _first = (engine.GetStats(), GC.GetTotalAllocatedBytes(precise: true), tokens);
            }

            if (count == maxNewTokens - 1 && Interlocked.Increment(ref _ending) == 1)
            {
                _last = (engine.GetStats(), GC.GetTotalAllocatedBytes(precise: true), tokens);
            }
        }

        public double BytesPerToken => _first is { } a && _last is { } b && b.Stats.DecodedTokens > a.Stats.DecodedTokens
            ? (double)(b.Stats.SchedulerAllocatedBytes - a.Stats.SchedulerAllocatedBytes) / (b.Stats.DecodedTokens - a.Stats.DecodedTokens)
            : double.NaN;

        public double ProcessBytesPerToken => _first is { } a && _last is { } b && b.Tokens > a.Tokens
            ? (double)(b.Process - a.Process) / (b.Tokens - a.Tokens)
            : double.NaN;

        /// <summary>The steady window's decode steps: forward and sampling+emission milliseconds a step.</summary>
        public (double ForwardMs, double EmitMs, long Steps) PerStep => _first is { } a && _last is { } b && b.Stats.Steps > a.Stats.Steps
            ? ((b.Stats.DecodeForwardSeconds - a.Stats.DecodeForwardSeconds) * 1000 / (b.Stats.Steps - a.Stats.Steps),
               (b.Stats.DecodeEmitSeconds - a.Stats.DecodeEmitSeconds) * 1000 / (b.Stats.Steps - a.Stats.Steps),
               b.Stats.Steps - a.Stats.Steps)
            : (double.NaN, double.NaN, 0);
    }

    /// <summary>
    /// A 10-turn conversation whose history passes 1,500 tokens; each turn's TTFT with the handle's cache vs
    /// re-prefilling the whole history on a fresh handle, side by side. Three conversations; the median per turn.
    /// </summary>
    public async Task<JsonObject> MultiTurnAsync(int turns = 10)
    {
        const int repetitions = 3;
        const int replyTokens = 72;
        using var engine = InferenceEngine.Create(new EngineOptions { ModelPath = modelPath, ModelVariant = variant, Device = device, IntraOpThreads = threads, IntraOpSpinning = spinning, MaxTokensPerStep = 2048 });
        var reuse = new double[repetitions][];
        var recompute = new double[repetitions][];
        var lastPromptTokens = 0;
        var userText = "Tell me about the Dispose method of Stream, the TryGetValue method of Dictionary and what a List "
            + "is in System.Collections.Generic, then give me a quote about science, one about computers and one about "
            + "work, and explain why each of them matters to a programmer who writes .NET services every day, "
            + "with an example for each.";
        var sampling = new SamplingOptions { Temperature = 0f, MaxNewTokens = replyTokens };
        var endOfTurn = engine.Manifest.EndOfTurnTokenIds.Count > 0 ? engine.Manifest.EndOfTurnTokenIds[0] : engine.Manifest.EosTokenId ?? 0;
        for (var rep = 0; rep < repetitions; rep++)
        {
            reuse[rep] = new double[turns];
            recompute[rep] = new double[turns];
            var handle = engine.GetOrCreateHandle($"conversation-{rep}");
            var history = new List<int>();
            for (var turn = 0; turn < turns; turn++)
            {
                // The model's own template (tiny-chat's renders "<|user|>\n{text}\n<|assistant|>\n"), each turn's
                // user message and reply header appended to the history; the reply ends with the end-of-turn id.
                var rendered = engine.ChatTemplate.Render([new ChatMessage(ChatRole.User, $"{userText} (turn {turn + 1})")], addGenerationPrompt: true);
                history.AddRange(engine.Tokenizer.EncodeToIds(rendered));
                var prompt = history.ToArray();
                lastPromptTokens = prompt.Length;

                // Re-prefill: a fresh handle sees the whole history; only its first token is timed.
                using (var fresh = engine.GetOrCreateHandle($"recompute-{rep}-{turn}"))
                {
                    (recompute[rep][turn], _) = await TimedAsync(engine, new GenerationRequest(fresh, prompt, sampling with { MaxNewTokens = 1 }));
                }

                List<int> reply;
                (reuse[rep][turn], reply) = await TimedAsync(engine, new GenerationRequest(handle, prompt, sampling) { StopTokenIds = [] });
                history.AddRange(reply);
                history.Add(endOfTurn);
            }
        }

        var reuseMedian = new JsonArray();
        var recomputeMedian = new JsonArray();
        for (var turn = 0; turn < turns; turn++)
        {
            var r = Median(reuse.Select(x => x[turn]));
            var c = Median(recompute.Select(x => x[turn]));
            reuseMedian.Add(Math.Round(r, 2));
            recomputeMedian.Add(Math.Round(c, 2));
            Console.Error.WriteLine($"[{Label}] turn {turn + 1,2}: ttft reuse {r,7:F2} ms  recompute {c,7:F2} ms  ratio {c / r,5:F1}x");
        }

        Console.Error.WriteLine($"history at the last turn: {lastPromptTokens} tokens");
        return new JsonObject
        {
            ["turns"] = turns,
            ["history_tokens_last_turn"] = lastPromptTokens,
            ["repetitions"] = repetitions,
            ["ttft_ms_reuse"] = reuseMedian,
            ["ttft_ms_recompute"] = recomputeMedian,
        };
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static async Task<(double TtftMs, List<int> Tokens)> TimedAsync(InferenceEngine engine, GenerationRequest request)
    {
        var started = Stopwatch.GetTimestamp();
        double ttft = -1;
        var tokens = new List<int>();
        await foreach (var chunk in engine.Submit(request).ReadAllAsync())
        {
            if (chunk.TokenId is { } id)
            {
                if (ttft < 0)
                {
                    ttft = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }

                tokens.Add(id);
            }
        }

        return (ttft, tokens);
    }
}
