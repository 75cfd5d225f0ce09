using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>Rows that join and leave a running batch at different steps decode exactly as they do alone.</summary>
public sealed class ContinuousBatchingTests
{
    private static IReadOnlyList<int[]> Prompts(InferenceEngine engine)
    {
        var reference = ReferenceFile.Load(RepositoryPaths.DefaultModel);
        var prompts = reference.References.Select(r => r.PromptIds).ToList();
        string[] extra =
        [
            "What does Console.WriteLine do?",
            "Tell me a fortune.",
            "Explain the Dispose method of Stream.",
            "Give me a quote about love.",
            "What is HttpClient for?",
            "Hi there.",
        ];
        prompts.AddRange(extra.Select(e => engine.EncodeChat([new(Inference.Chat.ChatRole.User, e)])));
        return prompts;
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    [InlineData(KvLayouts.Int8)]
    public async Task Staggered_batched_rows_equal_their_solo_runs(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout, o => o with { MaxBatchSize = 16, MaxTokensPerStep = 64 });
        var prompts = Prompts(engine);
        Assert.True(prompts.Count >= 8);
        Assert.True(prompts.Select(p => p.Length).Distinct().Count() >= 6, "prompt lengths must differ");
        var lengths = prompts.Select((_, i) => 12 + 5 * i).ToArray(); // each row leaves at a different step

        // Half start together; the others join one by one while the first ones are decoding.
        var (solo, batched, before, stats) = await StaggeredRuns.RunAsync(engine, prompts, lengths, TimeSpan.FromMilliseconds(15), ct);
        for (var i = 0; i < prompts.Count; i++)
        {
            Assert.Equal(solo[i], batched[i].Tokens);
        }

        Assert.True(stats.Repacks - before.Repacks > 1, $"membership changed, so the batch was re-packed: {stats.Repacks - before.Repacks}");
        var batchedSteps = stats.Steps - before.Steps;
        Assert.True(batchedSteps < solo.Sum(s => s.Length) / 2,
            $"batched: {batchedSteps} steps for {solo.Sum(s => s.Length)} tokens; rows must share steps");
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task A_long_prefill_is_chunked_while_other_rows_keep_decoding(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout, o => o with { MaxBatchSize = 8, MaxTokensPerStep = 32 });
        var prompts = Prompts(engine);
        var longPrompt = prompts.OrderByDescending(p => p.Length).First();
        Assert.True(longPrompt.Length > 200);

        var expected = (await engine.GenerateAsync("solo-long", longPrompt, EngineFactory.Greedy(16), [], ct)).Tokens;
        var running = engine.GenerateAsync("running", prompts[0], EngineFactory.Greedy(120), [], ct);
        await Task.Delay(50, ct);
        var longRun = await engine.GenerateAsync("long", longPrompt, EngineFactory.Greedy(16), [], ct);
        var runningResult = await running;

        Assert.Equal(expected, longRun.Tokens);
        Assert.Equal(120, runningResult.Tokens.Length);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Rows_leaving_in_the_same_step_each_keep_their_own_kv(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout, o => o with { MaxBatchSize = 8, MaxTokensPerStep = 512 });
        var prompts = Prompts(engine).Take(6).ToArray();

        // All six finish at the same step: each leaving row must take its own KV back, not a neighbour's.
        var first = await Task.WhenAll(prompts.Select((p, i) => engine.GenerateAsync($"same-{i}", p, EngineFactory.Greedy(10), [], ct)));
        for (var i = 0; i < prompts.Length; i++)
        {
            var handle = engine.GetOrCreateHandle($"same-{i}");
            Assert.Equal(prompts[i].Concat(first[i].Tokens.Take(9)), handle.Tokens);

            var next = prompts[i].Concat(first[i].Tokens).Append(50256).ToArray();
            var continued = await engine.GenerateAsync($"same-{i}", next, EngineFactory.Greedy(8), [], ct);
            var fresh = await engine.GenerateAsync($"same-fresh-{i}", next, EngineFactory.Greedy(8), [], ct);
            Assert.Equal(prompts[i].Length + 9, continued.Usage.CachedTokens);
            Assert.Equal(fresh.Tokens, continued.Tokens);
        }
    }
}
