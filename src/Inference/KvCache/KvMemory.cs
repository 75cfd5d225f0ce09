using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// Allocates <see cref="KvBlock"/>s on the model's device and moves token ranges between them: a sequence's KV
/// into a batch row when it joins, back to its own block when it leaves. Every copy stays on the device; KV
/// never travels through host memory when the device is a GPU.
/// </summary>
internal abstract class KvMemory : IDisposable
{
    private readonly OrtAllocator _allocator;
    private readonly TensorElementType _elementType;
    private readonly int _elementSize;
    private readonly int _tensorCount;
    private readonly int _heads;
    private readonly int _headDim;
    private long _bytesCopied;
    private long _bytesAllocated;

    protected KvMemory(OrtAllocator allocator, ModelManifest manifest)
    {
        _allocator = allocator;
        _elementType = manifest.KvElementType;
        _elementSize = manifest.ElementSize;
        _tensorCount = 2 * manifest.NumLayers;
        _heads = manifest.NumKeyValueHeads;
        _headDim = manifest.HeadDim;
    }

    protected OrtAllocator Allocator => _allocator;

    /// <summary>The device the blocks live on ("Cpu", "Cuda").</summary>
    public string DeviceName => _allocator.Info.Name;

    /// <summary>KV bytes moved between blocks (all on the device).</summary>
    public long BytesCopied => Interlocked.Read(ref _bytesCopied);

    /// <summary>KV bytes allocated for blocks so far (for profiling growth).</summary>
    public long BytesAllocated => Interlocked.Read(ref _bytesAllocated);

    /// <summary>Bytes one token costs in one row of one block.</summary>
    public long BytesPerToken => (long)_tensorCount * _heads * _headDim * _elementSize;

    public KvBlock Allocate(int rows, int capacity)
    {
        var block = new KvBlock(_allocator, _elementType, _elementSize, _tensorCount, _heads, _headDim, rows, capacity);
        Interlocked.Add(ref _bytesAllocated, block.Bytes);
        return block;
    }

    /// <summary>
    /// Copies positions [srcStart, srcStart+count) of row <paramref name="srcRow"/> of every tensor of
    /// <paramref name="source"/> to row <paramref name="dstRow"/> at <paramref name="dstStart"/> of
    /// <paramref name="destination"/>. The blocks may be the same one (moving a row within a batch) when the
    /// ranges do not overlap.
    /// </summary>
    public void Copy(KvBlock source, int srcRow, int srcStart, KvBlock destination, int dstRow, int dstStart, int count)
    {
        if (count == 0)
        {
            return;
        }

        if (srcStart < 0 || srcStart + count > source.Capacity || dstStart < 0 || dstStart + count > destination.Capacity
            || (uint)srcRow >= (uint)source.Rows || (uint)dstRow >= (uint)destination.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(count),
                $"copy of {count} tokens from row {srcRow}@{srcStart} (capacity {source.Capacity}, {source.Rows} rows) to row {dstRow}@{dstStart} (capacity {destination.Capacity}, {destination.Rows} rows) is out of range");
        }

        var blockBytes = (long)count * _headDim * _elementSize;
        CopyBlocks(source, srcRow, srcStart, destination, dstRow, dstStart, blockBytes);
        Interlocked.Add(ref _bytesCopied, blockBytes * _heads * _tensorCount);
    }

    /// <summary>
    /// Copies positions [0, tokens) of row <paramref name="row"/> of every tensor of <paramref name="block"/> to
    /// host memory at <paramref name="destination"/>, as a <see cref="KvSnapshot"/> lays them out: tensor by
    /// tensor (graph order), head by head, each head's <paramref name="tokens"/> × head dim elements contiguous.
    /// </summary>
    public unsafe void ReadRow(KvBlock block, int row, int tokens, Span<byte> destination)
    {
        var headBytes = CheckRow(block, row, tokens, destination.Length);
        fixed (byte* host = destination)
        {
            TransferHost(block, row, headBytes, (nint)host, toHost: true);
        }
    }

    /// <summary>The inverse of <see cref="ReadRow"/>: host bytes in snapshot order into positions [0, tokens) of a row.</summary>
    public unsafe void WriteRow(ReadOnlySpan<byte> source, KvBlock block, int row, int tokens)
    {
        var headBytes = CheckRow(block, row, tokens, source.Length);
        fixed (byte* host = source)
        {
            TransferHost(block, row, headBytes, (nint)host, toHost: false);
        }
    }

    private long CheckRow(KvBlock block, int row, int tokens, int hostBytes)
    {
        if (tokens < 0 || tokens > block.Capacity || (uint)row >= (uint)block.Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens),
                $"{tokens} tokens of row {row} of a block of {block.Rows} rows × {block.Capacity} tokens");
        }

        var headBytes = (long)tokens * _headDim * _elementSize;
        if (hostBytes != headBytes * _heads * _tensorCount)
        {
            throw new ArgumentException($"{tokens} tokens of KV are {headBytes * _heads * _tensorCount} bytes, not {hostBytes}", nameof(hostBytes));
        }

        return headBytes;
    }

    /// <summary>
    /// For each tensor and head, moves <paramref name="headBytes"/> contiguous bytes between the block and the host
    /// buffer at <paramref name="host"/> (pinned by the caller for the call; the move is complete on return).
    /// </summary>
    protected abstract void TransferHost(KvBlock block, int row, long headBytes, nint host, bool toHost);

    /// <summary>Byte offset of (row, head, position) in one tensor of a block.</summary>
    protected static long Offset(KvBlock block, int row, int head, int position) =>
        row * block.RowBytes + ((long)head * block.Capacity + position) * block.HeadDim * block.ElementSize;

    /// <summary>For each tensor and head, copies <paramref name="blockBytes"/> contiguous bytes.</summary>
    protected abstract void CopyBlocks(KvBlock source, int srcRow, int srcStart, KvBlock destination, int dstRow, int dstStart, long blockBytes);

    public virtual void Dispose()
    {
    }
}
