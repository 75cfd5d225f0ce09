using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// What an engine will not export or import: every refused export is null and every refused import returns false
/// with no handle made or changed, no bytes used and none reserved.
/// </summary>
public sealed class KvSnapshotRefusalTests
{
    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Missing_empty_and_generating_sequences_export_nothing(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(8), [], ct);
        engine.GetOrCreateHandle("empty");

        Assert.Null(engine.ExportKv("missing"));
        Assert.False(engine.Pool.TryGet("missing", out _)); // looking did not create it
        Assert.Null(engine.ExportKv("empty"));

        // In a generation the KV sits in the batch: no export until the generation ends.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var a = engine.GetOrCreateHandle("a");
        var running = engine.Submit(new GenerationRequest(a, prompt, EngineFactory.Greedy(1500)) { StopTokenIds = [] }, stop.Token);
        Assert.Null(engine.ExportKv("a"));
        Assert.True(a.IsActive); // still in that generation, so the refusal saw it active
        await stop.CancelAsync();
        Assert.Equal(FinishReason.Cancelled, (await EngineFactory.CollectAsync(running, ct)).FinishReason);
        Assert.NotNull(engine.ExportKv("a")); // idle again: now it can
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Mismatched_malformed_and_unplaceable_snapshots_are_refused(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var a = EngineFactory.Create(layout);
        using var b = EngineFactory.Create(layout);
        var prompt = a.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        await a.GenerateAsync("a", prompt, EngineFactory.Greedy(8), [], ct);
        var good = a.ExportKv("a")!;
        var tokens = good.TokenIds.ToArray();
        var data = good.Data.ToArray();

        // b: one idle sequence caching as many tokens, one empty; later one generating.
        await b.GenerateAsync("longer", prompt, EngineFactory.Greedy(8), [], ct);
        var longer = b.GetOrCreateHandle("longer");
        var longerBytes = KvReader.HostBytes(longer, longer.CachedTokenCount);
        var empty = b.GetOrCreateHandle("empty");
        var sequences = b.Pool.Sequences;
        var used = b.Pool.UsedBytes;

        void AssertRefused(string target, KvSnapshot snapshot, string why)
        {
            Assert.False(b.TryImportKv(target, snapshot), why);
            Assert.Equal(used, b.Pool.UsedBytes);
            Assert.Equal(sequences, b.Pool.Sequences);
            Assert.Equal(0, b.Pool.Snapshot().ReservedBytes);
            Assert.False(b.Pool.TryGet("t", out _), why);
        }

        var d = good.Descriptor;
        AssertRefused("t", new KvSnapshot(d with { Model = "another-model" }, tokens, data), "another model");
        AssertRefused("t", new KvSnapshot(d with { Layers = d.Layers - 1 }, tokens, data.AsMemory(0, data.Length / d.Layers * (d.Layers - 1))), "fewer layers");
        AssertRefused("t", new KvSnapshot(d with { KvHeads = d.KvHeads * 2 }, tokens, data), "more heads");
        AssertRefused("t", new KvSnapshot(d with { HeadDim = d.HeadDim / 2 }, tokens, data.AsMemory(0, data.Length / 2)), "half the head dim");
        AssertRefused("t", new KvSnapshot(d with { ElementType = "float16", ElementSize = 2 }, tokens, data.AsMemory(0, data.Length / 2)), "float16");
        AssertRefused("t", new KvSnapshot(d with { Format = KvSnapshot.CurrentFormat + 1 }, tokens, data), "a later byte order");
        AssertRefused("t", new KvSnapshot(d, tokens, data.AsMemory(0, data.Length - 1)), "a byte short");
        AssertRefused("t", new KvSnapshot(d, tokens, data.Concat(new byte[1]).ToArray()), "a byte long");
        AssertRefused("t", new KvSnapshot(d, tokens[..^1], data), "one token fewer than the bytes cover");
        AssertRefused("t", new KvSnapshot(d, [], ReadOnlyMemory<byte>.Empty), "no tokens");
        AssertRefused("t", new KvSnapshot(d, [.. tokens[..^1], b.Manifest.VocabSize], data), "a token past the vocabulary");
        AssertRefused("t", new KvSnapshot(d, [-1, .. tokens[1..]], data), "a negative token");
        var window = Enumerable.Repeat(tokens[0], b.Manifest.ContextLength).ToArray();
        AssertRefused("t", new KvSnapshot(d, window, new byte[window.Length * d.BytesPerToken]), "a whole context window");
        AssertRefused("longer", good, "the target caches as many tokens");
        Assert.Equal(longerBytes, KvReader.HostBytes(longer, longer.CachedTokenCount));
        Assert.Equal(0, empty.CachedTokenCount);

        // A target in a generation (its KV in the batch, its bytes growing) is left to it.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var busy = b.GetOrCreateHandle("busy");
        var busyPrompt = b.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        var running = b.Submit(new GenerationRequest(busy, busyPrompt, EngineFactory.Greedy(1500)) { StopTokenIds = [] }, stop.Token);
        Assert.False(b.TryImportKv("busy", good));
        Assert.True(busy.IsActive); // still in that generation, so the refusal saw it active
        await stop.CancelAsync();
        Assert.Equal(FinishReason.Cancelled, (await EngineFactory.CollectAsync(running, ct)).FinishReason);
        Assert.NotEqual(tokens, busy.Tokens);
        Assert.Equal(0, b.Pool.Snapshot().ReservedBytes);
        Assert.True(b.TryImportKv("t", good)); // the same engine takes the good snapshot
    }

    [Fact]
    public async Task An_import_the_budget_cannot_hold_even_after_evicting_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        const int budgetTokens = 48;
        var bytesPerToken = ModelFolder.Load(RepositoryPaths.DefaultModel).KvBytesPerToken;
        using var a = EngineFactory.Create();
        using var b = EngineFactory.Create(o => o with { KvBudgetBytes = budgetTokens * bytesPerToken });
        var prompt = a.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        await a.GenerateAsync("a", prompt, EngineFactory.Greedy(budgetTokens + 8 - prompt.Length), [], ct);
        var tooBig = a.ExportKv("a")!;
        Assert.True(tooBig.TokenCount > budgetTokens);
        await b.GenerateAsync("other", b.EncodeChat([new(ChatRole.User, "Hi.")]), EngineFactory.Greedy(8), [], ct);
        var other = b.GetOrCreateHandle("other");
        var otherTokens = other.Tokens.ToArray();
        var used = b.Pool.UsedBytes;

        Assert.False(b.TryImportKv("t", tooBig));

        Assert.False(b.Pool.TryGet("t", out _));
        Assert.Equal(used, b.Pool.UsedBytes);
        Assert.Equal(0, b.Pool.Snapshot().ReservedBytes);
        Assert.Equal(0, b.Pool.Evictions); // nothing was evicted for an import that could not fit anyway
        Assert.Equal(otherTokens, other.Tokens);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task An_import_evicts_idle_handles_to_make_room(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        const int budgetTokens = 100;
        var bytesPerToken = ModelFolder.Load(RepositoryPaths.DefaultModel).KvBytesPerToken;
        using var a = EngineFactory.Create(layout);
        using var b = EngineFactory.Create(layout, o => o with { KvBudgetBytes = budgetTokens * bytesPerToken });
        await a.GenerateAsync("a", a.EncodeChat([new(ChatRole.User, "Hello!")]), EngineFactory.Greedy(45), [], ct);
        var snapshot = a.ExportKv("a")!;
        await b.GenerateAsync("other", b.EncodeChat([new(ChatRole.User, "Goodbye.")]), EngineFactory.Greedy(45), [], ct);
        var other = b.GetOrCreateHandle("other");
        Assert.True(snapshot.TokenCount + other.CachedTokenCount > budgetTokens && snapshot.TokenCount <= budgetTokens,
            $"{snapshot.TokenCount} + {other.CachedTokenCount} tokens: the import must need the other's room and fit without it");

        Assert.True(b.TryImportKv("t", snapshot));

        Assert.Equal(1, b.Pool.Evictions);
        Assert.Equal(0, other.CachedTokenCount);
        Assert.Equal(b.GetOrCreateHandle("t").Bytes, b.Pool.UsedBytes);
        Assert.InRange(b.Pool.UsedBytes, snapshot.TokenCount * bytesPerToken, b.Pool.BudgetBytes);
        Assert.Equal(0, b.Pool.Snapshot().ReservedBytes);
    }
}
