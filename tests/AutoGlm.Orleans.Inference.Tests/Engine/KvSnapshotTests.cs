using System.Diagnostics;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// A conversation moves between engines (silos) as a <see cref="KvSnapshot"/>: exported from one engine, imported
/// into another, of the same KV layout or the other one, it is byte-exact, accounted like any cached tokens,
/// reused by the next turn as if the importer had computed it, and the importer generates what the exporter would.
/// </summary>
public sealed class KvSnapshotTests
{
    internal const string FollowUp = "<|endoftext|><|user|>\nThank you.\n<|assistant|>\n";

    [Theory]
    [InlineData(KvLayouts.Shared, KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum, KvLayouts.Optimum)]
    [InlineData(KvLayouts.Shared, KvLayouts.Optimum)]
    [InlineData(KvLayouts.Optimum, KvLayouts.Shared)]
    [InlineData(KvLayouts.Int8, KvLayouts.Int8)]
    public async Task An_imported_cache_continues_exactly_as_the_exporter_would(string exporter, string importer)
    {
        var ct = TestContext.Current.CancellationToken;
        using var a = EngineFactory.Create(exporter);
        using var b = EngineFactory.Create(importer);
        Assert.Equal(a.KvDescriptor, b.KvDescriptor); // the two graphs of one model: one descriptor
        var prompt = a.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var reply = await a.GenerateAsync("a", prompt, EngineFactory.Greedy(16), [], ct);
        var source = a.GetOrCreateHandle("a");
        var cached = source.Tokens.ToArray();

        var snapshot = a.ExportKv("a");

        Assert.NotNull(snapshot);
        Assert.Equal(a.KvDescriptor, snapshot.Descriptor);
        Assert.Equal(cached, snapshot.TokenIds);
        Assert.Equal(cached.Length * a.Manifest.KvBytesPerToken, snapshot.Data.Length);
        Assert.Equal(KvReader.HostBytes(source, cached.Length), snapshot.Data.ToArray());
        Assert.False(source.IsActive); // held only while exporting
        Assert.Equal(cached, source.Tokens);

        var usedBefore = b.Pool.UsedBytes;
        Assert.True(b.TryImportKv("moved", snapshot));

        Assert.True(b.Pool.TryGet("moved", out var moved));
        Assert.Equal(cached, moved!.Tokens);
        Assert.False(moved.IsActive);
        // Accounted whole: at least the snapshot's bytes (shared buffers add headroom for the next turn).
        Assert.Equal(usedBefore + moved.Bytes, b.Pool.UsedBytes);
        Assert.True(moved.Bytes >= snapshot.Data.Length);
        Assert.Equal(0, b.Pool.Snapshot().ReservedBytes);
        Assert.Equal(snapshot.Data.ToArray(), KvReader.HostBytes(moved, cached.Length));
        Assert.Equal(snapshot.Data.ToArray(), b.ExportKv("moved")!.Data.ToArray()); // the bytes round-trip exactly

        var turn2 = prompt.Concat(reply.Tokens).Concat(a.Tokenizer.EncodeToIds(FollowUp)).ToArray();
        var continued = await b.GenerateAsync("moved", turn2, EngineFactory.Greedy(16), [], ct);
        var expected = await a.GenerateAsync("a", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(cached.Length, continued.Usage.CachedTokens);
        Assert.Equal(turn2.Length - cached.Length, continued.Usage.ComputedTokens);
        Assert.Equal(cached.Length, expected.Usage.CachedTokens);
        Assert.Equal(expected.Tokens, continued.Tokens);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task An_import_fills_an_empty_handle_and_replaces_a_shorter_idle_one_in_place(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var a = EngineFactory.Create(layout);
        using var b = EngineFactory.Create(layout);
        var prompt = a.EncodeChat([new(ChatRole.User, "What is HttpClient for?")]);
        var reply = await a.GenerateAsync("a", prompt, EngineFactory.Greedy(12), [], ct);
        var snapshot = a.ExportKv("a")!;
        var bytesPerToken = b.Manifest.KvBytesPerToken;

        // A grain made its handle before the move's bytes arrived: the import fills that very object.
        var empty = b.GetOrCreateHandle("empty");
        Assert.True(b.TryImportKv("empty", snapshot));
        Assert.True(b.Pool.TryGet("empty", out var filled));
        Assert.Same(empty, filled);
        Assert.Equal(snapshot.TokenIds, empty.Tokens);

        // An older, shorter cache of the conversation is replaced: its bytes go, the snapshot's come.
        await b.GenerateAsync("stale", b.EncodeChat([new(ChatRole.User, "Hi.")]), EngineFactory.Greedy(2), [], ct);
        var stale = b.GetOrCreateHandle("stale");
        Assert.InRange(stale.CachedTokenCount, 1, snapshot.TokenCount - 1);
        var staleBytes = stale.Bytes;
        var used = b.Pool.UsedBytes;
        Assert.True(b.TryImportKv("stale", snapshot));
        Assert.Same(stale, b.GetOrCreateHandle("stale"));
        Assert.Equal(snapshot.TokenIds, stale.Tokens);
        Assert.False(stale.IsActive);
        Assert.Equal(used - staleBytes + stale.Bytes, b.Pool.UsedBytes);
        Assert.True(stale.Bytes >= snapshot.TokenCount * bytesPerToken);
        Assert.Equal(0, b.Pool.Snapshot().ReservedBytes);
        Assert.Equal(snapshot.Data.ToArray(), KvReader.HostBytes(stale, snapshot.TokenCount));

        var turn2 = prompt.Concat(reply.Tokens).Concat(a.Tokenizer.EncodeToIds(FollowUp)).ToArray();
        var continued = await b.GenerateAsync("stale", turn2, EngineFactory.Greedy(12), [], ct);
        var expected = await a.GenerateAsync("a", turn2, EngineFactory.Greedy(12), [], ct);
        Assert.Equal(snapshot.TokenCount, continued.Usage.CachedTokens);
        Assert.Equal(expected.Tokens, continued.Tokens);
    }

    [Theory]
    [InlineData(KvLayouts.Shared, KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum, KvLayouts.Shared)]
    [InlineData(KvLayouts.Shared, KvLayouts.Optimum)]
    public async Task A_snapshot_of_1500_tokens_round_trips(string exporter, string importer)
    {
        var ct = TestContext.Current.CancellationToken;
        using var a = EngineFactory.Create(exporter);
        using var b = EngineFactory.Create(importer);
        var text = string.Join(' ', Enumerable.Repeat("The quick brown fox jumps over the lazy dog near the river bank.", 106));
        var prompt = a.EncodeChat([new(ChatRole.User, text)]);
        var reply = await a.GenerateAsync("long", prompt, EngineFactory.Greedy(8), [], ct);
        var tokens = a.GetOrCreateHandle("long").CachedTokenCount;
        Assert.InRange(tokens, 1400, 1700);

        var exportTime = Stopwatch.StartNew();
        var snapshot = a.ExportKv("long")!;
        exportTime.Stop();
        var importTime = Stopwatch.StartNew();
        Assert.True(b.TryImportKv("long", snapshot));
        importTime.Stop();

        Assert.Equal(tokens * a.Manifest.KvBytesPerToken, snapshot.Data.Length);
        Assert.Equal(snapshot.Data.ToArray(), b.ExportKv("long")!.Data.ToArray());
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{exporter} -> {importer}: {tokens} tokens, {snapshot.Data.Length:N0} bytes ({snapshot.Data.Length / 1048576.0:F2} MiB); " +
            $"export {exportTime.Elapsed.TotalMilliseconds:F2} ms, import {importTime.Elapsed.TotalMilliseconds:F2} ms");

        var turn2 = prompt.Concat(reply.Tokens).Concat(a.Tokenizer.EncodeToIds(FollowUp)).ToArray();
        var continued = await b.GenerateAsync("long", turn2, EngineFactory.Greedy(8), [], ct);
        var expected = await a.GenerateAsync("long", turn2, EngineFactory.Greedy(8), [], ct);
        Assert.Equal(tokens, continued.Usage.CachedTokens);
        Assert.Equal(expected.Tokens, continued.Tokens);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Exports_and_imports_made_while_other_sequences_generate_are_exact(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(12), [], ct);
        var a = engine.GetOrCreateHandle("a");
        var expected = KvReader.HostBytes(a, a.CachedTokenCount);

        // The scheduler joins, steps and leaves other rows (allocating and copying KV) while these run here.
        var busy = Enumerable.Range(0, 4).Select(i => engine.GenerateAsync($"busy-{i}",
            engine.EncodeChat([new(ChatRole.User, $"Count to {i + 3}.")]), EngineFactory.Greedy(40 + 10 * i), [], ct)).ToArray();
        for (var i = 0; i < 20; i++)
        {
            var snapshot = engine.ExportKv("a");
            Assert.NotNull(snapshot);
            Assert.Equal(expected, snapshot.Data.ToArray());
            Assert.True(engine.TryImportKv($"copy-{i}", snapshot));
        }

        await Task.WhenAll(busy);
        for (var i = 0; i < 20; i++)
        {
            Assert.True(engine.Pool.TryGet($"copy-{i}", out var copy));
            Assert.Equal(expected, KvReader.HostBytes(copy!, copy!.CachedTokenCount));
        }

        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
    }
}
