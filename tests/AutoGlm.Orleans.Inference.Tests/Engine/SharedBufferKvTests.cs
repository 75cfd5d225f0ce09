using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// Where a shared-buffer model's KV lives between and during generations, and that it moves only when a row
/// joins or leaves the batch, never per decoded token.
/// </summary>
public sealed class SharedBufferKvTests
{
    [Fact]
    public async Task A_finished_turn_leaves_its_kv_in_a_block_of_its_own_with_room_to_grow()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(KvLayouts.Shared);
        Assert.True(engine.Manifest.PastPresentShareBuffer);
        var prompt = engine.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        await engine.GenerateAsync("c", prompt, EngineFactory.Greedy(30), [], ct);

        var handle = engine.GetOrCreateHandle("c");
        Assert.Equal(prompt.Length + 29, handle.CachedTokenCount);
        var block = Assert.IsType<KvBlock>(handle.Block);
        Assert.Equal(1, block.Rows);
        Assert.True(block.Capacity >= handle.CachedTokenCount + 128, $"capacity {block.Capacity} for {handle.CachedTokenCount} tokens");
        Assert.Equal(0, block.Capacity % 64);
        Assert.Null(handle.Layers);

        var stats = engine.GetStats();
        Assert.True(stats.SharedKvBuffers);
        Assert.Equal("Cpu", stats.KvDevice);
        // Joining the batch and leaving it moved the sequence's KV twice: the prompt in, prompt + reply out.
        var bytesPerToken = engine.Manifest.KvBytesPerToken;
        Assert.Equal((prompt.Length + handle.CachedTokenCount) * bytesPerToken, stats.KvBytesCopied);
    }

    [Fact]
    public async Task Decoding_more_tokens_moves_no_more_kv()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(KvLayouts.Shared);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);

        var copied = new List<long>();
        foreach (var tokens in new[] { 8, 64 })
        {
            var before = engine.GetStats().KvBytesCopied;
            using (var handle = engine.GetOrCreateHandle($"n{tokens}"))
            {
                await engine.GenerateAsync($"n{tokens}", prompt, EngineFactory.Greedy(tokens), [], ct);
            }

            copied.Add(engine.GetStats().KvBytesCopied - before);
        }

        // Copies cost the prompt twice plus the reply once (on leaving): 56 more tokens cost 56 tokens of KV, not
        // 56 steps × the history, as a Concat graph's per-step rewrite would.
        Assert.Equal(56 * engine.Manifest.KvBytesPerToken, copied[1] - copied[0]);
    }

    [Fact]
    public async Task A_truncated_history_is_overwritten_in_place()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(KvLayouts.Shared);
        var original = engine.EncodeChat([new(ChatRole.User, "Tell me something about computers."), new(ChatRole.Assistant, "Computers are fast."), new(ChatRole.User, "Why?")]);
        var edited = engine.EncodeChat([new(ChatRole.User, "Tell me something about computers."), new(ChatRole.Assistant, "Computers are slow."), new(ChatRole.User, "Why?")]);
        await engine.GenerateAsync("edit", original, EngineFactory.Greedy(6), [], ct);
        var handle = engine.GetOrCreateHandle("edit");
        var blockAfterFirst = handle.Block;

        var afterEdit = await engine.GenerateAsync("edit", edited, EngineFactory.Greedy(6), [], ct);
        var fresh = await engine.GenerateAsync("fresh", edited, EngineFactory.Greedy(6), [], ct);
        Assert.Equal(fresh.Tokens, afterEdit.Tokens);
        Assert.True(afterEdit.Usage.CachedTokens > 0);
        Assert.NotNull(blockAfterFirst);
        Assert.NotSame(blockAfterFirst, handle.Block); // it went through the batch and came back in a new block
    }

    [Fact]
    public void Manifest_variants_select_the_concat_graph_by_name()
    {
        var manifest = ModelFolder.Load(RepositoryPaths.DefaultModel);
        Assert.True(manifest.PastPresentShareBuffer);
        var optimum = manifest.WithVariant("optimum");
        Assert.False(optimum.PastPresentShareBuffer);
        Assert.Equal("model.optimum.onnx", optimum.OnnxFile);
        Assert.Same(manifest, manifest.WithVariant(null));
        var error = Assert.Throws<ArgumentException>(() => manifest.WithVariant("nope"));
        Assert.Contains("optimum", error.Message);
    }
}
