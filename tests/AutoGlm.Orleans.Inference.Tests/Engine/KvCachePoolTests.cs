using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>The KV budget holds; idle handles are evicted least recently used first; eviction costs only recompute.</summary>
public sealed class KvCachePoolTests
{
    [Fact]
    public async Task Budget_is_respected_by_evicting_idle_handles_lru_first()
    {
        var ct = TestContext.Current.CancellationToken;
        var bytesPerToken = 6 * 2 * 4 * 32 * 4L;
        // Room for about 150 tokens: each conversation below needs ~60. No restore tier: an evicted conversation
        // recomputes (RestoreTierTests has the tier bring it back).
        using var engine = EngineFactory.Create(o => o with { KvBudgetBytes = 150 * bytesPerToken, RestoreTierKind = RestoreTierKind.Off });
        Assert.Equal(bytesPerToken, engine.Manifest.KvBytesPerToken);
        var prompts = new[] { "Hello!", "Tell me a fortune.", "What is HttpClient for?", "Goodbye." }
            .Select(p => engine.EncodeChat([new(ChatRole.User, p)])).ToArray();

        var first = await engine.GenerateAsync("a", prompts[0], EngineFactory.Greedy(40), [], ct);
        await engine.GenerateAsync("b", prompts[1], EngineFactory.Greedy(40), [], ct);
        Assert.Equal(0, engine.Pool.Evictions);
        var a = engine.GetOrCreateHandle("a");
        var b = engine.GetOrCreateHandle("b");
        Assert.True(a.CachedTokenCount > 0 && b.CachedTokenCount > 0);

        // "c" needs room: "a" (least recently used) goes, "b" stays.
        await engine.GenerateAsync("c", prompts[2], EngineFactory.Greedy(40), [], ct);
        Assert.Equal(0, a.CachedTokenCount);
        Assert.Equal(1, a.Evictions);
        Assert.True(b.CachedTokenCount > 0);
        Assert.True(engine.Pool.UsedBytes <= engine.Pool.BudgetBytes);
        Assert.Equal(1, engine.Pool.Evictions);

        // The evicted conversation recomputes and gets the same tokens.
        var again = await engine.GenerateAsync("a", prompts[0], EngineFactory.Greedy(40), [], ct);
        Assert.Equal(0, again.Usage.CachedTokens);
        Assert.Equal(first.Tokens, again.Tokens);
        Assert.True(engine.Pool.UsedBytes <= engine.Pool.BudgetBytes);
    }

    [Fact]
    public async Task Active_handles_are_never_evicted()
    {
        var ct = TestContext.Current.CancellationToken;
        var bytesPerToken = 6 * 2 * 4 * 32 * 4L;
        using var engine = EngineFactory.Create(o => o with { KvBudgetBytes = 120 * bytesPerToken });
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);

        // "long" holds its reservation while it runs; "other" has to wait for it instead of evicting it.
        var longRun = engine.GenerateAsync("long", prompt, EngineFactory.Greedy(90), [], ct);
        await Task.Delay(20, ct);
        var other = await engine.GenerateAsync("other", prompt, EngineFactory.Greedy(90), [], ct);
        var longResult = await longRun;
        Assert.Equal(90, longResult.Tokens.Length);
        Assert.Equal(90, other.Tokens.Length);
        Assert.Equal(longResult.Tokens, other.Tokens);
        Assert.Equal(1, engine.Pool.Evictions);
        Assert.Equal(0, engine.GetOrCreateHandle("long").CachedTokenCount);
    }

    [Fact]
    public async Task Released_handles_free_their_bytes()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        await engine.GenerateAsync("x", prompt, EngineFactory.Greedy(8), [], ct);
        var handle = engine.GetOrCreateHandle("x");
        Assert.Equal(handle.Bytes, engine.Pool.UsedBytes);
        Assert.Equal(1, engine.Pool.Sequences);
        handle.Dispose();
        Assert.Equal(0, engine.Pool.UsedBytes);
        Assert.Equal(0, engine.Pool.Sequences);
        Assert.Throws<HandleBusyException>(() => engine.Submit(new GenerationRequest(handle, prompt, EngineFactory.Greedy(4)), ct));
    }

    [Fact]
    public async Task Handles_idle_longer_than_the_ttl_are_released_and_recent_ones_stay()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        await engine.GenerateAsync("old", prompt, EngineFactory.Greedy(4), [], ct);
        var old = engine.GetOrCreateHandle("old");
        await Task.Delay(300, ct);
        await engine.GenerateAsync("recent", prompt, EngineFactory.Greedy(4), [], ct);

        Assert.Equal(1, engine.Pool.ReleaseIdle(TimeSpan.FromMilliseconds(200)));
        Assert.True(old.IsReleased);
        Assert.False(engine.Pool.TryGet("old", out _));
        Assert.True(engine.Pool.TryGet("recent", out var recent) && recent!.CachedTokenCount > 0);
        Assert.Equal(0, engine.Pool.ReleaseIdle(TimeSpan.FromMinutes(1)));
    }
}
