using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>A later turn on the same handle computes only its new tokens, and the result is unchanged.</summary>
public sealed class PrefixReuseTests
{
    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Second_turn_computes_only_new_tokens_and_matches_a_fresh_handle(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var turn1 = engine.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var reply = await engine.GenerateAsync("conversation", turn1, EngineFactory.Greedy(24), cancellationToken: ct);
        Assert.Equal(turn1.Length, reply.Usage.ComputedTokens);
        Assert.Equal(0, reply.Usage.CachedTokens);

        var handle = engine.GetOrCreateHandle("conversation");
        // Everything fed to the model is cached: the prompt and the reply tokens. A reply cut by max tokens ends on
        // a token that was sampled but never fed; one ended by the model fed its last token to get end-of-turn.
        var cachedAfterTurn1 = turn1.Length + reply.Tokens.Length - (reply.FinishReason == FinishReason.Length ? 1 : 0);
        Assert.Equal(cachedAfterTurn1, handle.CachedTokenCount);
        // Its memory is what the pool counts: the cached tokens' KV, and (shared buffers) room for the next turn's.
        Assert.True(handle.Bytes >= cachedAfterTurn1 * engine.Manifest.KvBytesPerToken, $"{handle.Bytes} bytes for {cachedAfterTurn1} tokens");
        Assert.Equal(handle.Bytes, engine.Pool.UsedBytes);

        var followUp = engine.Tokenizer.EncodeToIds("<|endoftext|><|user|>\nThank you.\n<|assistant|>\n").ToArray();
        var turn2 = turn1.Concat(reply.Tokens).Concat(followUp).ToArray();
        var second = await engine.GenerateAsync("conversation", turn2, EngineFactory.Greedy(24), cancellationToken: ct);
        Assert.Equal(cachedAfterTurn1, second.Usage.CachedTokens);
        Assert.Equal(turn2.Length - cachedAfterTurn1, second.Usage.ComputedTokens);
        Assert.Equal(turn2.Length, second.Usage.PromptTokens);

        var fresh = await engine.GenerateAsync("fresh", turn2, EngineFactory.Greedy(24), cancellationToken: ct);
        Assert.Equal(0, fresh.Usage.CachedTokens);
        Assert.Equal(fresh.Tokens, second.Tokens);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task An_edited_history_truncates_to_the_common_prefix(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var original = engine.EncodeChat([new(ChatRole.User, "Tell me something about computers."), new(ChatRole.Assistant, "Computers are fast."), new(ChatRole.User, "Why?")]);
        var edited = engine.EncodeChat([new(ChatRole.User, "Tell me something about computers."), new(ChatRole.Assistant, "Computers are slow."), new(ChatRole.User, "Why?")]);
        var common = original.Zip(edited).TakeWhile(p => p.First == p.Second).Count();
        Assert.InRange(common, 5, original.Length - 2);

        await engine.GenerateAsync("edit", original, EngineFactory.Greedy(8), cancellationToken: ct);
        var afterEdit = await engine.GenerateAsync("edit", edited, EngineFactory.Greedy(8), cancellationToken: ct);
        Assert.Equal(common, afterEdit.Usage.CachedTokens);
        Assert.Equal(edited.Length - common, afterEdit.Usage.ComputedTokens);

        var fresh = await engine.GenerateAsync("edit-fresh", edited, EngineFactory.Greedy(8), cancellationToken: ct);
        Assert.Equal(fresh.Tokens, afterEdit.Tokens);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Regenerating_the_same_prompt_recomputes_only_its_last_token(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(layout);
        var prompt = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        var first = await engine.GenerateAsync("regen", prompt, EngineFactory.Greedy(10), cancellationToken: ct);
        var again = await engine.GenerateAsync("regen", prompt, EngineFactory.Greedy(10), cancellationToken: ct);
        Assert.Equal(prompt.Length - 1, again.Usage.CachedTokens);
        Assert.Equal(1, again.Usage.ComputedTokens);
        Assert.Equal(first.Tokens, again.Tokens);
    }
}
