using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Inference.Tests.Sampling;

/// <summary>The vectorized argmax against a plain scan: every length around the vector widths, ties across lanes.</summary>
public sealed class GreedyArgMaxTests
{
    private static int Reference(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }

    [Fact]
    public void Matches_a_scan_at_every_length_and_for_a_whole_vocabulary()
    {
        var random = new Random(3);
        foreach (var length in Enumerable.Range(1, 70).Append(50_257))
        {
            for (var trial = 0; trial < 20; trial++)
            {
                // Few distinct values, so maxima repeat in several lanes and halves: the lowest index must win.
                var values = Enumerable.Range(0, length).Select(_ => (float)random.Next(0, 6)).ToArray();
                Assert.Equal(Reference(values), GreedyArgMax.Of(values));
            }
        }
    }

    [Fact]
    public void The_first_of_equal_maxima_wins_wherever_they_sit()
    {
        var values = new float[100];
        values[97] = 1f;
        values[33] = 1f;
        values[40] = 1f;
        Assert.Equal(33, GreedyArgMax.Of(values));
        Assert.Equal(0, GreedyArgMax.Of(new float[100]));
    }

    [Fact]
    public void Negative_infinity_and_nan_never_beat_a_finite_logit()
    {
        var values = Enumerable.Repeat(float.NegativeInfinity, 64).ToArray();
        Assert.Equal(0, GreedyArgMax.Of(values));
        values[50] = -1e30f;
        values[3] = float.NaN;
        values[10] = float.NaN;
        Assert.Equal(50, GreedyArgMax.Of(values));
        Assert.Throws<ArgumentException>(() => GreedyArgMax.Of([]));
    }
}
