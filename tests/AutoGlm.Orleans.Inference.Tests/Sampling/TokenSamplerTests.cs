using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Inference.Tests.Sampling;

public sealed class TokenSamplerTests
{
    private static float[] RandomLogits(int size, int seed)
    {
        var random = new Random(seed);
        var logits = new float[size];
        for (var i = 0; i < size; i++)
        {
            logits[i] = (float)(random.NextDouble() * 8 - 4);
        }

        return logits;
    }

    private static int[] Counts(TokenSampler sampler, float[] logits, int draws)
    {
        var counts = new int[logits.Length];
        for (var i = 0; i < draws; i++)
        {
            counts[sampler.Sample(logits, [])]++;
        }

        return counts;
    }

    [Fact]
    public void Greedy_is_argmax_with_the_lowest_index_on_ties()
    {
        using var sampler = new TokenSampler(new SamplingOptions { Temperature = 0f }, 6);
        Assert.Equal(2, sampler.Sample([0.1f, 0.5f, 3f, -1f, 2.9f, 0f], []));
        Assert.Equal(1, sampler.Sample([0.1f, 3f, 3f, -1f, 3f, 0f], []));
        Assert.Equal(1, sampler.Sample([float.NegativeInfinity, -5f, -5f, -6f, -7f, -8f], []));

        var logits = RandomLogits(1000, 7);
        using var big = new TokenSampler(new SamplingOptions { Temperature = 0f }, logits.Length);
        Assert.Equal(Array.IndexOf(logits, logits.Max()), big.Sample(logits, []));
    }

    [Fact]
    public void Same_seed_replays_and_different_seeds_differ()
    {
        var logits = RandomLogits(500, 1);
        int[] Run(ulong seed, SamplingOptions baseOptions)
        {
            using var sampler = new TokenSampler(baseOptions with { Seed = seed }, logits.Length);
            Assert.Equal(seed, sampler.Seed);
            return [.. Enumerable.Range(0, 200).Select(_ => sampler.Sample(logits, []))];
        }

        foreach (var options in new[]
                 {
                     new SamplingOptions(),
                     new SamplingOptions { TopK = 50, Temperature = 0.8f },
                     new SamplingOptions { TopP = 0.9f, Temperature = 1.3f },
                 })
        {
            Assert.Equal(Run(42, options), Run(42, options));
            Assert.NotEqual(Run(42, options), Run(43, options));
        }
    }

    [Fact]
    public void Unseeded_samplers_pick_their_own_seeds()
    {
        using var a = new TokenSampler(new SamplingOptions(), 10);
        using var b = new TokenSampler(new SamplingOptions(), 10);
        Assert.NotEqual(a.Seed, b.Seed);
    }

    [Theory]
    [InlineData(0.01f)]
    [InlineData(1f)]
    [InlineData(50f)]
    public void Top_k_of_one_is_greedy_at_any_temperature(float temperature)
    {
        var logits = RandomLogits(300, 3);
        var expected = Array.IndexOf(logits, logits.Max());
        using var sampler = new TokenSampler(new SamplingOptions { TopK = 1, Temperature = temperature, Seed = 5 }, logits.Length);
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(expected, sampler.Sample(logits, []));
        }
    }

    [Fact]
    public void Top_k_only_ever_yields_the_k_largest()
    {
        var logits = RandomLogits(200, 11);
        var top5 = logits.Select((value, index) => (value, index)).OrderByDescending(p => p.value).Take(5).Select(p => p.index).ToHashSet();
        // A high temperature flattens the distribution so the other 195 would show up if they could.
        using var sampler = new TokenSampler(new SamplingOptions { TopK = 5, Temperature = 5f, Seed = 9 }, logits.Length);
        var counts = Counts(sampler, logits, 5000);
        for (var i = 0; i < counts.Length; i++)
        {
            if (top5.Contains(i))
            {
                Assert.True(counts[i] > 0, $"top-5 token {i} never drawn");
            }
            else
            {
                Assert.Equal(0, counts[i]);
            }
        }
    }

    [Fact]
    public void Top_p_only_yields_the_nucleus()
    {
        // Probabilities 0.4, 0.3, 0.2, 0.1 (shuffled): p = 0.5 keeps 0.4 and the 0.3 that crosses it.
        float[] logits = [MathF.Log(0.2f), MathF.Log(0.4f), MathF.Log(0.1f), MathF.Log(0.3f)];
        using var sampler = new TokenSampler(new SamplingOptions { TopP = 0.5f, Seed = 1 }, logits.Length);
        var counts = Counts(sampler, logits, 10_000);
        Assert.Equal(0, counts[0]);
        Assert.Equal(0, counts[2]);
        // Renormalized nucleus: 4/7 and 3/7.
        Assert.InRange(counts[1] / 10_000.0, 4.0 / 7 - 0.03, 4.0 / 7 + 0.03);
        Assert.InRange(counts[3] / 10_000.0, 3.0 / 7 - 0.03, 3.0 / 7 + 0.03);
    }

    [Fact]
    public void Top_p_on_a_large_vocabulary_keeps_the_smallest_set_reaching_p()
    {
        var logits = RandomLogits(5000, 21);
        const float p = 0.3f;
        var probs = Softmax(logits, 1f);
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => probs[i]).ToArray();
        var nucleus = new HashSet<int>();
        var mass = 0d;
        foreach (var i in order)
        {
            if (mass >= p)
            {
                break;
            }

            nucleus.Add(i);
            mass += probs[i];
        }

        using var sampler = new TokenSampler(new SamplingOptions { TopP = p, Seed = 2 }, logits.Length);
        for (var draw = 0; draw < 3000; draw++)
        {
            Assert.Contains(sampler.Sample(logits, []), nucleus);
        }

        // Top-k then top-p composes: a tiny p over the 3 best keeps only the best.
        using var both = new TokenSampler(new SamplingOptions { TopK = 3, TopP = 0.01f, Seed = 2 }, logits.Length);
        Assert.Equal(order[0], both.Sample(logits, []));
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(0.5f)]
    [InlineData(2f)]
    public void Frequencies_follow_the_tempered_softmax(float temperature)
    {
        float[] logits = [1f, 0.5f, 0f, -0.5f, -1f, 2f, 0.25f, -2f];
        var expected = Softmax(logits, temperature);
        const int draws = 20_000;
        using var sampler = new TokenSampler(new SamplingOptions { Temperature = temperature, Seed = 123 }, logits.Length);
        var counts = Counts(sampler, logits, draws);

        // Chi-square with 7 degrees of freedom: the 0.999 quantile is 24.3.
        var chiSquare = 0d;
        for (var i = 0; i < logits.Length; i++)
        {
            var e = expected[i] * draws;
            chiSquare += (counts[i] - e) * (counts[i] - e) / e;
        }

        Assert.True(chiSquare < 24.3, $"chi-square {chiSquare:F1} at T = {temperature}");
    }

    [Fact]
    public void Repetition_penalty_pushes_a_repeated_token_below_another()
    {
        float[] logits = [2f, 1.5f, -1f, -0.5f];
        using var plain = new TokenSampler(new SamplingOptions { Temperature = 0f }, logits.Length);
        Assert.Equal(0, plain.Sample(logits, [0, 0, 2]));

        using var penalized = new TokenSampler(new SamplingOptions { Temperature = 0f, RepetitionPenalty = 2f }, logits.Length);
        // 2 / 2 = 1 < 1.5: the repeated token loses, and is divided once however often it appeared.
        Assert.Equal(1, penalized.Sample(logits, [0, 0, 0]));
        // Negative logits are multiplied: -1 * 2 = -2 < -0.5 (index 3 is not repeated).
        Assert.Equal(3, penalized.Sample([-1f, -5f, -1f, -1.5f], [0, 1, 2]));
        // The penalty applies per call: a later call without history sees the plain logits.
        Assert.Equal(0, penalized.Sample(logits, []));
        Assert.Equal([2f, 1.5f, -1f, -0.5f], logits);
    }

    [Fact]
    public void Bad_inputs_are_rejected()
    {
        using var sampler = new TokenSampler(new SamplingOptions { RepetitionPenalty = 1.2f }, 4);
        Assert.Throws<ArgumentException>(() => sampler.Sample([1f, 2f], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample([1f, 2f, 3f, 4f], [7]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(new SamplingOptions(), 0));
        sampler.Dispose();
        Assert.Throws<ObjectDisposedException>(() => sampler.Sample([1f, 2f, 3f, 4f], []));
    }

    [Fact]
    public void Sampling_does_not_allocate_per_token()
    {
        var logits = RandomLogits(50_257, 4);
        int[] history = [1, 2, 3, 500, 2, 1];
        foreach (var options in new[]
                 {
                     new SamplingOptions { Temperature = 0f, RepetitionPenalty = 1.1f },
                     new SamplingOptions { TopK = 40, TopP = 0.9f, RepetitionPenalty = 1.1f, Seed = 1 },
                     new SamplingOptions { TopP = 0.9f, Seed = 1 },
                     new SamplingOptions { Seed = 1 },
                 })
        {
            using var sampler = new TokenSampler(options, logits.Length);
            // Past the JIT's tiering thresholds first: a method's first calls may allocate while it is compiled.
            for (var i = 0; i < 200; i++)
            {
                sampler.Sample(logits, history);
            }

            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 20; i++)
            {
                sampler.Sample(logits, history);
            }

            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    private static double[] Softmax(float[] logits, float temperature)
    {
        var max = logits.Max();
        var weights = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        var total = weights.Sum();
        return [.. weights.Select(w => w / total)];
    }
}
