namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>The logits of one forward, row by row; disposing releases what the forward produced.</summary>
internal interface IStepLogits : IDisposable
{
    /// <summary>The last position's logits of batch row <paramref name="row"/>.</summary>
    ReadOnlySpan<float> LastLogits(int row);
}
