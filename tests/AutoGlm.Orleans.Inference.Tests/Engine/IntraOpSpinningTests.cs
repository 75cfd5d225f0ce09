using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Runtime;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>How ONNX Runtime's intra-op threads wait for work: a scheduling choice that must never change a token.</summary>
public sealed class IntraOpSpinningTests
{
    [Fact]
    public void By_default_threads_spin_within_a_forward_for_a_bounded_time()
    {
        var options = new EngineOptions { ModelPath = RepositoryPaths.DefaultModel };
        Assert.Equal(IntraOpSpinning.WithinRun, options.IntraOpSpinning);
        Assert.Equal(TimeSpan.FromMicroseconds(100), options.IntraOpSpinDuration);
        options.Validate();
    }

    [Fact]
    public void A_negative_spin_duration_or_an_unknown_policy_is_refused()
    {
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => EngineFactory.Create(o => o with { IntraOpSpinDuration = TimeSpan.FromMicroseconds(-1) }));
        Assert.Equal(nameof(EngineOptions.IntraOpSpinDuration), negative.ParamName);
        var unknown = Assert.Throws<ArgumentOutOfRangeException>(() => EngineFactory.Create(o => o with { IntraOpSpinning = (IntraOpSpinning)7 }));
        Assert.Equal(nameof(EngineOptions.IntraOpSpinning), unknown.ParamName);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Every_policy_decodes_the_same_greedy_tokens_alone_and_in_a_batch(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        (IntraOpSpinning Policy, TimeSpan Duration)[] policies =
        [
            (IntraOpSpinning.Off, TimeSpan.Zero),
            (IntraOpSpinning.WithinRun, TimeSpan.FromMicroseconds(100)),
            (IntraOpSpinning.WithinRun, TimeSpan.Zero),
            (IntraOpSpinning.Always, TimeSpan.FromMicroseconds(100)),
        ];
        int[][]? expected = null;
        foreach (var (policy, duration) in policies)
        {
            using var engine = EngineFactory.Create(layout, o => o with { IntraOpSpinning = policy, IntraOpSpinDuration = duration });
            string[] questions = ["Tell me a fortune.", "What is the weather like?", "Hello!"];
            // One row alone, then three at once: a batch's forwards are where the threads share the work.
            var alone = await engine.GenerateAsync("alone", engine.EncodeChat([new(ChatRole.User, questions[0])]), EngineFactory.Greedy(24), [], ct);
            var batch = await Task.WhenAll(questions.Select((q, i) =>
                engine.GenerateAsync($"row{i}", engine.EncodeChat([new(ChatRole.User, q)]), EngineFactory.Greedy(24), [], ct)));
            int[][] tokens = [alone.Tokens, .. batch.Select(g => g.Tokens)];
            Assert.All(tokens, t => Assert.Equal(24, t.Length));
            Assert.Equal(tokens[0], tokens[1]);
            expected ??= tokens;
            Assert.Equal(expected, tokens);
        }
    }
}
