using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// A forked conversation starts from a copy of its parent's cached prefix: the copy is byte-exact, accounted like
/// any cached tokens, reused by the fork's next generation as if the fork had computed it, and refused (leaving
/// nothing behind) whenever it cannot be made safely.
/// </summary>
public sealed class KvPrefixCopyTests
{
    private static readonly string FollowUp = "<|endoftext|><|user|>\nThank you.\n<|assistant|>\n";

    /// <summary>How much of the parent's cache the fork takes.</summary>
    public enum Prefix
    {
        /// <summary>Exactly the parent's prompt.</summary>
        Prompt,

        /// <summary>Part of the prompt: the fork's prompt diverges from the parent's inside it.</summary>
        PartOfPrompt,

        /// <summary>Everything cached: prompt and reply, as when a whole conversation is forked.</summary>
        Everything,
    }

    [Theory]
    [InlineData(KvLayouts.Shared, Prefix.Prompt)]
    [InlineData(KvLayouts.Shared, Prefix.PartOfPrompt)]
    [InlineData(KvLayouts.Shared, Prefix.Everything)]
    [InlineData(KvLayouts.Optimum, Prefix.Prompt)]
    [InlineData(KvLayouts.Optimum, Prefix.PartOfPrompt)]
    [InlineData(KvLayouts.Optimum, Prefix.Everything)]
    public async Task Copy_reuses_the_prefix_and_generates_as_a_fresh_sequence(string layout, Prefix prefix)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var prompt = engine.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var reply = await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(16), [], ct);
        var a = engine.GetOrCreateHandle("a");
        var aTokens = a.Tokens.ToArray();
        var aBytes = KvBytes(a, aTokens.Length);
        var followUp = engine.Tokenizer.EncodeToIds(FollowUp).ToArray();
        var (copied, forkPrompt) = prefix switch
        {
            Prefix.Prompt => (prompt.Length, prompt.Concat(followUp).ToArray()),
            Prefix.PartOfPrompt => (prompt.Length - 3, prompt[..^3].Concat(followUp).ToArray()),
            _ => (aTokens.Length, prompt.Concat(reply.Tokens).Concat(followUp).ToArray()),
        };
        var usedBefore = engine.Pool.UsedBytes;

        Assert.True(engine.TryCopyKvPrefix("a", "b", copied));

        Assert.True(engine.Pool.TryGet("b", out var b));
        Assert.Equal(aTokens[..copied], b!.Tokens);
        // The copy's memory is accounted, all of it: at least its tokens' KV (shared buffers add headroom the budget has room for).
        Assert.Equal(usedBefore + b.Bytes, engine.Pool.UsedBytes);
        Assert.True(b.Bytes >= copied * engine.Manifest.KvBytesPerToken, $"{b.Bytes} bytes for {copied} tokens");
        Assert.False(b.IsActive);
        Assert.Equal(KvBytes(a, copied), KvBytes(b, copied));
        Assert.False(a.IsActive);
        Assert.Equal(aTokens, a.Tokens);
        Assert.Equal(aBytes, KvBytes(a, aTokens.Length));

        var forked = await engine.GenerateAsync("b", forkPrompt, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(copied, forked.Usage.CachedTokens);
        Assert.Equal(forkPrompt.Length - copied, forked.Usage.ComputedTokens);
        var fresh = await engine.GenerateAsync("c", forkPrompt, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(0, fresh.Usage.CachedTokens);
        Assert.Equal(fresh.Tokens, forked.Tokens);

        // The parent kept its cache through the copy and the fork's turn, and goes on from it.
        Assert.Equal(aTokens, a.Tokens);
        var turn2 = prompt.Concat(reply.Tokens).Concat(followUp).ToArray();
        var next = await engine.GenerateAsync("a", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(aTokens.Length, next.Usage.CachedTokens);
        if (prefix == Prefix.Everything)
        {
            Assert.Equal(forked.Tokens, next.Tokens);
        }
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Refused_copies_leave_no_target_and_no_bytes(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(8), [], ct);
        var cached = engine.GetOrCreateHandle("a").CachedTokenCount;
        var existing = engine.GetOrCreateHandle("existing");
        var used = engine.Pool.UsedBytes;
        var sequences = engine.Pool.Sequences;

        void AssertRefused(string source, string target, int tokens)
        {
            Assert.False(engine.TryCopyKvPrefix(source, target, tokens), $"{source} → {target} × {tokens}");
            Assert.Equal(used, engine.Pool.UsedBytes);
            Assert.Equal(sequences, engine.Pool.Sequences);
            Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
        }

        AssertRefused("missing", "t", 1);
        Assert.False(engine.Pool.TryGet("t", out _));
        AssertRefused("a", "t", 0);
        AssertRefused("a", "t", -1);
        AssertRefused("a", "t", cached + 1);
        AssertRefused("a", "a", 1);
        AssertRefused("a", "existing", 1);
        Assert.Same(existing, engine.GetOrCreateHandle("existing"));
        Assert.Equal(0, existing.CachedTokenCount);
        Assert.False(engine.Pool.TryGet("t", out _));
        Assert.Equal(cached, engine.GetOrCreateHandle("a").CachedTokenCount);

        // In a generation the source's KV sits in the batch: it cannot be copied until the generation ends.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var a = engine.GetOrCreateHandle("a");
        var running = engine.Submit(new GenerationRequest(a, prompt, EngineFactory.Greedy(1500)) { StopTokenIds = [] }, stop.Token);
        Assert.False(engine.TryCopyKvPrefix("a", "t", 1));
        Assert.True(a.IsActive); // still in that generation, so the refusal saw it active
        Assert.False(engine.Pool.TryGet("t", out _));
        await stop.CancelAsync();
        var cancelled = await EngineFactory.CollectAsync(running, ct);
        Assert.Equal(FinishReason.Cancelled, cancelled.FinishReason);
        Assert.True(engine.TryCopyKvPrefix("a", "t", 1)); // idle again: now it can
    }

    [Fact]
    public async Task A_copy_the_budget_cannot_hold_is_refused()
    {
        var ct = TestContext.Current.CancellationToken;
        const int budgetTokens = 64;
        var bytesPerToken = ModelFolder.Load(RepositoryPaths.DefaultModel).KvBytesPerToken;
        using var engine = EngineFactory.Create(o => o with { KvBudgetBytes = budgetTokens * bytesPerToken });
        var prompt = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(budgetTokens - prompt.Length), [], ct);
        var cached = engine.GetOrCreateHandle("a").CachedTokenCount;
        Assert.Equal(budgetTokens - 1, cached);
        var used = engine.Pool.UsedBytes;

        // The only idle handle is the source, held during the copy: nothing can be evicted for it.
        Assert.False(engine.TryCopyKvPrefix("a", "b", cached));
        Assert.False(engine.TryCopyKvPrefix("a", "b", budgetTokens - cached + 1));
        Assert.False(engine.Pool.TryGet("b", out _));
        Assert.Equal(used, engine.Pool.UsedBytes);
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
        Assert.Equal(0, engine.Pool.Evictions);
        Assert.Equal(cached, engine.GetOrCreateHandle("a").CachedTokenCount);

        Assert.True(engine.TryCopyKvPrefix("a", "b", budgetTokens - cached));
        Assert.Equal(budgetTokens * bytesPerToken, engine.Pool.UsedBytes);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task A_copy_evicts_idle_handles_but_never_its_source(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        const int budgetTokens = 100;
        var bytesPerToken = ModelFolder.Load(RepositoryPaths.DefaultModel).KvBytesPerToken;
        using var engine = EngineFactory.Create(layout, o => o with { KvBudgetBytes = budgetTokens * bytesPerToken });
        var prompt = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        // "a" is the least recently used handle: eviction would pick it first if the copy did not hold it.
        await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(30), [], ct);
        await engine.GenerateAsync("other", engine.EncodeChat([new(ChatRole.User, "Goodbye.")]), EngineFactory.Greedy(30), [], ct);
        var a = engine.GetOrCreateHandle("a");
        var other = engine.GetOrCreateHandle("other");
        var cached = a.CachedTokenCount;
        Assert.True(cached + other.CachedTokenCount + cached > budgetTokens && 2 * cached <= budgetTokens,
            $"{cached} + {other.CachedTokenCount} tokens cached: the copy must need the other's room and fit without it");
        Assert.Equal(0, engine.Pool.Evictions);

        Assert.True(engine.TryCopyKvPrefix("a", "b", cached));

        Assert.Equal(1, engine.Pool.Evictions);
        Assert.Equal(0, other.CachedTokenCount);
        Assert.Equal(cached, a.CachedTokenCount);
        Assert.Equal(0, a.Evictions);
        Assert.Equal(a.Bytes + engine.GetOrCreateHandle("b").Bytes, engine.Pool.UsedBytes);
        Assert.InRange(engine.Pool.UsedBytes, 2L * cached * bytesPerToken, engine.Pool.BudgetBytes);
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Copies_made_while_other_sequences_generate_are_exact(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var prompt = engine.EncodeChat([new(ChatRole.User, "What is HttpClient for?")]);
        await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(12), [], ct);
        var a = engine.GetOrCreateHandle("a");
        var expected = KvBytes(a, a.CachedTokenCount);

        // The scheduler joins, steps and leaves other rows (allocating and copying KV) while the copies run here.
        var busy = Enumerable.Range(0, 4).Select(i => engine.GenerateAsync($"busy-{i}",
            engine.EncodeChat([new(ChatRole.User, $"Count to {i + 3}.")]), EngineFactory.Greedy(40 + 10 * i), [], ct)).ToArray();
        for (var i = 0; i < 20; i++)
        {
            Assert.True(engine.TryCopyKvPrefix("a", $"fork-{i}", a.CachedTokenCount - i));
        }

        await Task.WhenAll(busy);
        for (var i = 0; i < 20; i++)
        {
            Assert.True(engine.Pool.TryGet($"fork-{i}", out var fork));
            Assert.Equal(KvBytes(a, fork!.CachedTokenCount), KvBytes(fork, fork.CachedTokenCount));
        }

        Assert.Equal(expected, KvBytes(a, a.CachedTokenCount));
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
    }

    private static byte[] KvBytes(KvCacheHandle handle, int tokens) => KvReader.HostBytes(handle, tokens);
}
