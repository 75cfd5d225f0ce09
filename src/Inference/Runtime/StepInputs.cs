using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// Reused host buffers for one forward's input_ids [B,S], position_ids [B,S] and attention_mask [B,T], grown on
/// demand, so a step allocates no arrays: fill <see cref="Ids"/>, <see cref="Positions"/> and
/// <see cref="Mask"/> after <see cref="Reserve"/>, then take <see cref="Values"/> for the run.
/// </summary>
internal sealed class StepInputs
{
    private long[] _ids = new long[256];
    private long[] _positions = new long[256];
    private long[] _mask = new long[4096];
    private int _rows;
    private int _sequence;
    private int _total;

    /// <summary>Makes room for <paramref name="rows"/> rows of <paramref name="sequence"/> new and <paramref name="total"/> attended tokens.</summary>
    public void Reserve(int rows, int sequence, int total)
    {
        var tokens = rows * sequence;
        if (_ids.Length < tokens)
        {
            _ids = new long[Math.Max(tokens, _ids.Length * 2)];
            _positions = new long[_ids.Length];
        }

        if (_mask.Length < rows * total)
        {
            _mask = new long[Math.Max(rows * total, _mask.Length * 2)];
        }

        (_rows, _sequence, _total) = (rows, sequence, total);
    }

    public Span<long> Ids => _ids.AsSpan(0, _rows * _sequence);

    public Span<long> Positions => _positions.AsSpan(0, _rows * _sequence);

    public Span<long> Mask => _mask.AsSpan(0, _rows * _total);

    /// <summary>One sequence's prefill chunk: its ids at positions past…, attending to every earlier token.</summary>
    public void Prefill(ReadOnlySpan<int> chunk, int past)
    {
        Reserve(1, chunk.Length, past + chunk.Length);
        for (var j = 0; j < chunk.Length; j++)
        {
            _ids[j] = chunk[j];
            _positions[j] = past + j;
        }

        Mask.Fill(1);
    }

    /// <summary>The reserved buffers as ONNX Runtime values; dispose after the run.</summary>
    public Bound Values() => new(
        OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _ids.AsMemory(0, _rows * _sequence), [_rows, _sequence]),
        OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _positions.AsMemory(0, _rows * _sequence), [_rows, _sequence]),
        OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _mask.AsMemory(0, _rows * _total), [_rows, _total]));

    public readonly record struct Bound(OrtValue InputIds, OrtValue PositionIds, OrtValue AttentionMask) : IDisposable
    {
        public void Dispose()
        {
            InputIds.Dispose();
            PositionIds.Dispose();
            AttentionMask.Dispose();
        }
    }
}
