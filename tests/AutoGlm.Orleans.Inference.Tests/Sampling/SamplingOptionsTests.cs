using AutoGlm.Orleans.Inference.Sampling;

namespace AutoGlm.Orleans.Inference.Tests.Sampling;

public sealed class SamplingOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_switch_every_filter_off()
    {
        var options = new SamplingOptions();
        options.Validate();
        Assert.Equal(1f, options.Temperature);
        Assert.Equal(0, options.TopK);
        Assert.Equal(1f, options.TopP);
        Assert.Equal(1f, options.RepetitionPenalty);
        Assert.Null(options.Seed);
        Assert.Empty(options.StopSequences);
        Assert.False(options.IsGreedy);
    }

    [Theory]
    [InlineData(-0.1f, 0, 1f, 1f, 16, "Temperature", "temperature")]
    [InlineData(float.NaN, 0, 1f, 1f, 16, "Temperature", "temperature")]
    [InlineData(1f, -1, 1f, 1f, 16, "TopK", "top_k")]
    [InlineData(1f, 0, 0f, 1f, 16, "TopP", "top_p")]
    [InlineData(1f, 0, 1.01f, 1f, 16, "TopP", "top_p")]
    [InlineData(1f, 0, -0.5f, 1f, 16, "TopP", "top_p")]
    [InlineData(1f, 0, 1f, 0f, 16, "RepetitionPenalty", "repetition_penalty")]
    [InlineData(1f, 0, 1f, -1f, 16, "RepetitionPenalty", "repetition_penalty")]
    [InlineData(1f, 0, 1f, 1f, 0, "MaxNewTokens", "max_new_tokens")]
    public void Out_of_range_values_are_rejected(float temperature, int topK, float topP, float penalty, int maxNew, string param, string mention)
    {
        var options = new SamplingOptions
        {
            Temperature = temperature,
            TopK = topK,
            TopP = topP,
            RepetitionPenalty = penalty,
            MaxNewTokens = maxNew,
        };
        var ex = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(param, ex.ParamName);
        Assert.Contains(mention, ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(options, 10));
    }

    [Fact]
    public void Empty_stop_sequences_are_rejected()
    {
        var options = new SamplingOptions { StopSequences = ["ok", ""] };
        Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
    }
}
