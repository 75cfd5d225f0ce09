using System.Diagnostics;
using System.Globalization;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// What the restore tier buys: the time to first token of an evicted conversation's next turn, restored from the tier
/// (disk, host memory) against recomputed (no tier), at ~1,500 tokens of history and at ~100; medians of a few rounds,
/// printed in the test output (docs/engine.md quotes them).
/// </summary>
public sealed class RestoreTierTimingTests
{
    private const int Rounds = 5;
    private const string FollowUp = "<|endoftext|><|user|>\nSummarize that.\n<|assistant|>\n";
    private const string Sentence = "The quick brown fox jumps over the lazy dog near the river bank.";

    [Theory]
    [InlineData(KvLayouts.Shared, 106)]
    [InlineData(KvLayouts.Optimum, 106)]
    [InlineData(KvLayouts.Shared, 6)]
    public async Task Restoring_an_evicted_history_is_faster_than_recomputing_it(string layout, int sentences)
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper;
        using var reference = EngineFactory.Create(layout, o => o with { RestoreTierKind = RestoreTierKind.Off });
        var prompt = reference.EncodeChat([new(ChatRole.User, string.Join(' ', Enumerable.Repeat(Sentence, sentences)))]);
        var reply = await reference.GenerateAsync("a", prompt, EngineFactory.Greedy(8), [], ct);
        var history = reference.ExportKv("a")!;
        int[] turn2 = [.. prompt, .. reply.Tokens, .. reference.Tokenizer.EncodeToIds(FollowUp)];
        var expected = await reference.GenerateAsync("a", turn2, EngineFactory.Greedy(8), [], ct);
        var filler = reference.EncodeChat([new(ChatRole.User, string.Join(' ', Enumerable.Repeat("Count the sheep in the field.", 80)))]);
        // Room for the history (and its next turn) or the filler, not both.
        var budget = history.TokenCount + filler.Length;

        var medians = new Dictionary<RestoreTierKind, double>();
        foreach (var kind in new[] { RestoreTierKind.Off, RestoreTierKind.Disk, RestoreTierKind.Host })
        {
            using var folder = new TempDirectory();
            using var engine = RestoreTierSetup.Create(layout, kind, folder, budget);
            var ttft = new List<double>();
            var restoreMs = new List<double>();
            for (var round = 0; round < Rounds; round++)
            {
                // The conversation's history arrives as it was (an import is this engine's own cache), then a filler
                // conversation pushes it out: into the tier, or gone.
                Assert.True(engine.TryImportKv("a", history));
                await engine.GenerateAsync("filler", filler, EngineFactory.Greedy(8), [], ct);
                Assert.Equal(0, engine.GetOrCreateHandle("a").CachedTokenCount);
                await RestoreTierSetup.SettledAsync(engine, ct); // on disk by now: the restore reads the file

                var started = Stopwatch.GetTimestamp();
                var reader = engine.Submit(new GenerationRequest(engine.GetOrCreateHandle("a"), turn2, EngineFactory.Greedy(8)) { StopTokenIds = [] }, ct);
                var submitted = Stopwatch.GetElapsedTime(started);
                var firstToken = await reader.ReadAsync(ct);
                ttft.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                restoreMs.Add(submitted.TotalMilliseconds);
                var rest = await EngineFactory.CollectAsync(reader, ct);
                Assert.Equal(expected.Tokens, (int[])[firstToken.TokenId!.Value, .. rest.Tokens]);
                Assert.Equal(kind == RestoreTierKind.Off ? 0 : history.TokenCount, rest.Usage.CachedTokens);
                Assert.Equal(kind == RestoreTierKind.Off ? 0 : history.TokenCount, rest.Usage.RestoredTokens);

                engine.GetOrCreateHandle("a").Dispose();
                engine.GetOrCreateHandle("filler").Dispose();
            }

            var stats = engine.GetRestoreTierStats();
            Assert.Equal(kind == RestoreTierKind.Off ? 0 : Rounds, stats.Hits);
            Assert.Equal(0, stats.Entries);
            medians[kind] = Median(ttft);
            var how = kind == RestoreTierKind.Off ? "recompute" : "restore from " + kind.ToString().ToLowerInvariant();
            output?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{layout}, {history.TokenCount} tokens of history ({history.Data.Length / 1048576.0:F2} MiB of KV), {how}: next turn's TTFT median {medians[kind]:F1} ms (min {ttft.Min():F1}, max {ttft.Max():F1}; Submit, tier read included, median {Median(restoreMs):F2} ms) over {Rounds} rounds"));
        }

        output?.WriteLine(FormattableString.Invariant(
            $"{layout}, {history.TokenCount} tokens: recompute / restore = {medians[RestoreTierKind.Off] / medians[RestoreTierKind.Disk]:F1}× (disk), {medians[RestoreTierKind.Off] / medians[RestoreTierKind.Host]:F1}× (host)"));
        if (history.TokenCount > 1_000)
        {
            Assert.True(medians[RestoreTierKind.Disk] < medians[RestoreTierKind.Off], $"restore from disk {medians[RestoreTierKind.Disk]:F1} ms vs recompute {medians[RestoreTierKind.Off]:F1} ms");
            Assert.True(medians[RestoreTierKind.Host] < medians[RestoreTierKind.Off], $"restore from host {medians[RestoreTierKind.Host]:F1} ms vs recompute {medians[RestoreTierKind.Off]:F1} ms");
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
