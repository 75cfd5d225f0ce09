using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// A decode batch's input_ids [B,1], position_ids [B,1] and attention_mask [B,W] as values over reused host arrays,
/// made once per shape (<see cref="Reshape"/>), so a step only writes numbers into them: no arrays, no values and
/// no bindings per step. The arrays grow only when a shape outgrows them.
/// </summary>
internal sealed class DecodeInputs : IDisposable
{
    private long[] _ids = [];
    private long[] _positions = [];
    private long[] _mask = [];
    private OrtValue? _idsValue;
    private OrtValue? _positionsValue;
    private OrtValue? _maskValue;

    public int Rows { get; private set; }

    /// <summary>The mask's width: every position a row may attend to.</summary>
    public int Width { get; private set; }

    public OrtValue InputIds => _idsValue ?? throw new InvalidOperationException("no shape yet");

    public OrtValue PositionIds => _positionsValue ?? throw new InvalidOperationException("no shape yet");

    public OrtValue AttentionMask => _maskValue ?? throw new InvalidOperationException("no shape yet");

    public Span<long> Ids => _ids.AsSpan(0, Rows);

    public Span<long> Positions => _positions.AsSpan(0, Rows);

    public Span<long> MaskRow(int row) => _mask.AsSpan(row * Width, Width);

    /// <summary>
    /// New values for <paramref name="rows"/> × <paramref name="width"/>; the mask starts all zero. Widths grow toward
    /// <paramref name="maxWidth"/> (the context) as rows lengthen.
    /// </summary>
    public void Reshape(int rows, int width, int maxWidth)
    {
        DisposeValues();
        if (_ids.Length < rows)
        {
            _ids = new long[rows];
            _positions = new long[rows];
        }

        if (_mask.Length < rows * width)
        {
            // Room for twice the width: the block's capacity grows a few hundred positions at a time as rows
            // lengthen, and a mask array per growth would be most of what a long decode allocates.
            _mask = new long[rows * Math.Max(width, Math.Min(maxWidth, 2 * width))];
        }

        (Rows, Width) = (rows, width);
        _mask.AsSpan(0, rows * width).Clear();
        _idsValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _ids.AsMemory(0, rows), [rows, 1]);
        _positionsValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _positions.AsMemory(0, rows), [rows, 1]);
        _maskValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _mask.AsMemory(0, rows * width), [rows, width]);
    }

    private void DisposeValues()
    {
        _idsValue?.Dispose();
        _positionsValue?.Dispose();
        _maskValue?.Dispose();
        (_idsValue, _positionsValue, _maskValue) = (null, null, null);
        (Rows, Width) = (0, 0);
    }

    public void Dispose() => DisposeValues();
}
