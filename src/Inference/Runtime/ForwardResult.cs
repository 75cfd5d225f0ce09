using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>What one forward produced: logits and the presents that become the next past.</summary>
public sealed class ForwardResult : IStepLogits
{
    private readonly OrtValue _logits;
    private readonly bool _lastOnly;
    private readonly int _sequenceLength;
    private readonly int _vocab;

    internal ForwardResult(OrtValue logits, OrtValue[] presents, bool lastOnly)
    {
        _logits = logits;
        Presents = presents;
        _lastOnly = lastOnly;
        var shape = logits.GetTensorTypeAndShape().Shape;
        _sequenceLength = (int)shape[1];
        _vocab = (int)shape[2];
    }

    /// <summary>Present key/value tensors; whoever keeps them takes ownership (set the slot to null).</summary>
    public OrtValue?[] Presents { get; }

    /// <summary>Takes ownership of every present tensor (they become a past); the result no longer disposes them.</summary>
    public OrtValue[] TakePresents()
    {
        var presents = new OrtValue[Presents.Length];
        for (var i = 0; i < presents.Length; i++)
        {
            presents[i] = Presents[i] ?? throw new InvalidOperationException("the presents were already taken");
            Presents[i] = null;
        }

        return presents;
    }

    /// <summary>The last position's logits of batch row <paramref name="row"/>.</summary>
    public ReadOnlySpan<float> LastLogits(int row)
    {
        var all = _logits.GetTensorDataAsSpan<float>();
        var rowLength = _sequenceLength * _vocab;
        var offset = row * rowLength + (_lastOnly ? 0 : (_sequenceLength - 1) * _vocab);
        return all.Slice(offset, _vocab);
    }

    public void Dispose()
    {
        _logits.Dispose();
        foreach (var present in Presents)
        {
            present?.Dispose();
        }
    }
}
