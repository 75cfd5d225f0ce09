using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Sampling;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>Sampling options as the engine applies them: seeds, stop sequences, end of turn, max tokens.</summary>
public sealed class EngineSamplingTests
{
    [Fact]
    public async Task The_same_seed_gives_the_same_reply_and_other_seeds_differ()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        SamplingOptions Seeded(ulong seed) => new() { Temperature = 1.0f, TopP = 0.95f, TopK = 50, Seed = seed, MaxNewTokens = 30 };

        var a = await engine.GenerateAsync("s1", prompt, Seeded(7), [], ct);
        var b = await engine.GenerateAsync("s2", prompt, Seeded(7), [], ct);
        Assert.Equal(a.Tokens, b.Tokens);

        var others = new List<int[]>();
        for (var seed = 100UL; seed < 104; seed++)
        {
            others.Add((await engine.GenerateAsync($"s{seed}", prompt, Seeded(seed), [], ct)).Tokens);
        }

        Assert.Contains(others, o => !o.SequenceEqual(a.Tokens));
    }

    [Fact]
    public async Task Greedy_replies_end_their_turn_and_report_stop()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "Hello!")]);
        var reply = await engine.GenerateAsync("eot", prompt, EngineFactory.Greedy(200), cancellationToken: ct);
        Assert.Equal(FinishReason.Stop, reply.FinishReason);
        Assert.True(reply.Tokens.Length < 200);
        Assert.DoesNotContain(50256, reply.Tokens);
        Assert.False(string.IsNullOrWhiteSpace(reply.Text));
        Assert.Equal(engine.Tokenizer.Decode(reply.Tokens), reply.Text);
    }

    [Fact]
    public async Task A_stop_sequence_ends_the_reply_before_it()
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create();
        var prompt = engine.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var full = await engine.GenerateAsync("full", prompt, EngineFactory.Greedy(40), [], ct);
        Assert.True(full.Text.Length > 12, full.Text);
        // Stop on a piece from the middle of the greedy text: the reply must end right before it.
        var stop = full.Text.Substring(full.Text.Length / 2, 4);
        var cut = full.Text[..full.Text.IndexOf(stop, StringComparison.Ordinal)];
        var stopped = await engine.GenerateAsync("stopped", prompt,
            EngineFactory.Greedy(40) with { StopSequences = [stop] }, [], ct);
        Assert.Equal(FinishReason.StopSequence, stopped.FinishReason);
        Assert.Equal(cut, stopped.Text);
        Assert.True(stopped.Tokens.Length < full.Tokens.Length);
    }
}
