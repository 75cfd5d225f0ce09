using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// KV memory for up to <see cref="Rows"/> sequences of up to <see cref="Capacity"/> tokens each: one
/// [Rows,H,Capacity,Dh] allocation per layer key and per layer value, in the memory of the device that runs the
/// model. A shared-buffer graph reads and writes it in place. Views cover the first n rows, so a batch of n rows
/// runs on the block without re-allocating it when its membership changes.
/// </summary>
internal sealed class KvBlock : IDisposable
{
    private readonly OrtMemoryAllocation[] _tensors;
    private readonly OrtValue[]?[] _views;
    private readonly OrtMemoryInfo _memoryInfo;
    private readonly TensorElementType _elementType;
    private readonly long[] _viewShape;
    private bool _disposed;

    internal KvBlock(OrtAllocator allocator, TensorElementType elementType, int elementSize, int tensorCount,
        int heads, int headDim, int rows, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Rows = rows;
        Capacity = capacity;
        Heads = heads;
        HeadDim = headDim;
        ElementSize = elementSize;
        _elementType = elementType;
        _memoryInfo = allocator.Info;
        RowBytes = (long)heads * capacity * headDim * elementSize;
        _tensors = new OrtMemoryAllocation[tensorCount];
        try
        {
            for (var i = 0; i < tensorCount; i++)
            {
                _tensors[i] = allocator.Allocate((uint)(RowBytes * rows));
            }
        }
        catch
        {
            Dispose();
            throw;
        }

        _views = new OrtValue[]?[rows + 1];
        _viewShape = [0, heads, capacity, headDim];
    }

    public int Rows { get; }

    /// <summary>Tokens each row can hold.</summary>
    public int Capacity { get; }

    public int Heads { get; }

    public int HeadDim { get; }

    public int ElementSize { get; }

    public int TensorCount => _tensors.Length;

    /// <summary>Bytes of one row of one tensor (H × Capacity × Dh elements).</summary>
    public long RowBytes { get; }

    public long Bytes => RowBytes * Rows * _tensors.Length;

    /// <summary>Where the block lives ("Cpu", "Cuda").</summary>
    public string DeviceName => _memoryInfo.Name;

    internal IntPtr Pointer(int tensor) => _tensors[tensor].DangerousGetHandle();

    /// <summary>The tensors as [rows,H,Capacity,Dh] values over the block's first <paramref name="rows"/> rows.</summary>
    public IReadOnlyList<OrtValue> Views(int rows)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, Rows);
        if (_views[rows] is { } cached)
        {
            return cached;
        }

        var views = new OrtValue[_tensors.Length];
        var shape = (long[])_viewShape.Clone();
        shape[0] = rows;
        for (var i = 0; i < views.Length; i++)
        {
            views[i] = OrtValue.CreateTensorValueWithData(_memoryInfo, _elementType, shape, _tensors[i].DangerousGetHandle(), RowBytes * rows);
        }

        _views[rows] = views;
        return views;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var views in _views)
        {
            if (views is null)
            {
                continue;
            }

            foreach (var view in views)
            {
                view.Dispose();
            }
        }

        foreach (var tensor in _tensors)
        {
            tensor?.Dispose();
        }
    }
}
