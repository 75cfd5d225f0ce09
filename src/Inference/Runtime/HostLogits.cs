using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// A reused, pinned host buffer that a shared-buffer forward writes its logits into ([B,S,V]): the only tensor
/// that comes back from the device each step. Values over it are cached by shape, so a step allocates nothing.
/// </summary>
internal sealed class HostLogits : IStepLogits
{
    private readonly int _vocab;
    private readonly bool _lastOnly;
    private readonly Dictionary<(int Batch, int Sequence), OrtValue> _values = [];
    private float[] _buffer;
    private OrtValue? _transient;
    private int _batch;
    private int _sequence;

    public HostLogits(int vocab, bool lastOnly)
    {
        _vocab = vocab;
        _lastOnly = lastOnly;
        _buffer = GC.AllocateArray<float>(vocab * 8, pinned: true);
    }

    /// <summary>The output value for a forward of <paramref name="batch"/> rows of <paramref name="sequence"/> tokens.</summary>
    public OrtValue For(int batch, int sequence)
    {
        _transient?.Dispose();
        _transient = null;
        var positions = _lastOnly ? 1 : sequence;
        _batch = batch;
        _sequence = positions;
        if (_values.TryGetValue((batch, positions), out var value))
        {
            return value;
        }

        var needed = batch * positions * _vocab;
        if (_buffer.Length < needed)
        {
            // Values over the old buffer must not outlive it.
            foreach (var old in _values.Values)
            {
                old.Dispose();
            }

            _values.Clear();
            _buffer = GC.AllocateArray<float>(Math.Max(needed, _buffer.Length * 2), pinned: true);
        }

        value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _buffer.AsMemory(0, needed), [batch, positions, _vocab]);
        if (!_lastOnly && positions > 1)
        {
            // Prefill chunks vary in length: cache only the shapes that recur every step.
            _transient = value;
            return value;
        }

        _values[(batch, positions)] = value;
        return value;
    }

    public ReadOnlySpan<float> LastLogits(int row)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, _batch);
        var offset = (row * _sequence + _sequence - 1) * _vocab;
        return _buffer.AsSpan(offset, _vocab);
    }

    /// <summary>Nothing to release per step: the buffer is reused.</summary>
    void IDisposable.Dispose()
    {
    }

    public void Release()
    {
        _transient?.Dispose();
        _transient = null;
        foreach (var value in _values.Values)
        {
            value.Dispose();
        }

        _values.Clear();
    }
}
