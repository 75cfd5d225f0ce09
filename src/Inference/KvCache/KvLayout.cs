using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// The [B, H, T, Dh] layout of one key or value tensor (float32 or float16 elements), and the copies the cache
/// needs between such tensors: a (row, position range) of one into a (row, position) of another, head by head.
/// </summary>
internal readonly record struct KvLayout(int Heads, int HeadDim, TensorElementType ElementType, int ElementSize)
{
    public static KvLayout For(Models.ModelManifest manifest) =>
        new(manifest.NumKeyValueHeads, manifest.HeadDim, manifest.KvElementType, manifest.ElementSize);

    public OrtValue Allocate(int batch, int length) =>
        OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, ElementType,
            [batch, Heads, length, HeadDim]);

    public static int LengthOf(OrtValue tensor) => (int)tensor.GetTensorTypeAndShape().Shape[2];

    /// <summary>
    /// Positions [start, start+count) of one row of every tensor in <paramref name="tensors"/>, as new [1,H,count,Dh]
    /// tensors: a sequence's own KV taken out of a batch, or a prefix kept after truncation.
    /// </summary>
    public OrtValue[] Slice(IReadOnlyList<OrtValue> tensors, int row, int start, int count)
    {
        var slice = new OrtValue[tensors.Count];
        for (var i = 0; i < slice.Length; i++)
        {
            slice[i] = Allocate(1, count);
            Copy(tensors[i], row, start, slice[i], 0, 0, count);
        }

        return slice;
    }

    /// <summary>Copies positions [srcStart, srcStart+count) of row srcRow into row dstRow at dstStart.</summary>
    public void Copy(OrtValue source, int srcRow, int srcStart, OrtValue destination, int dstRow, int dstStart, int count)
    {
        if (count == 0)
        {
            return;
        }

        var src = source.GetTensorMutableRawData();
        var dst = destination.GetTensorMutableRawData();
        var srcLength = LengthOf(source);
        var dstLength = LengthOf(destination);
        var block = count * HeadDim * ElementSize;
        for (var h = 0; h < Heads; h++)
        {
            var s = ((srcRow * Heads + h) * srcLength + srcStart) * HeadDim * ElementSize;
            var d = ((dstRow * Heads + h) * dstLength + dstStart) * HeadDim * ElementSize;
            src.Slice(s, block).CopyTo(dst.Slice(d, block));
        }
    }

    /// <summary>Zeroes positions [start, start+count) of a row: left padding must hold finite values.</summary>
    public void Clear(OrtValue destination, int row, int start, int count)
    {
        if (count == 0)
        {
            return;
        }

        var dst = destination.GetTensorMutableRawData();
        var length = LengthOf(destination);
        for (var h = 0; h < Heads; h++)
        {
            dst.Slice(((row * Heads + h) * length + start) * HeadDim * ElementSize, count * HeadDim * ElementSize).Clear();
        }
    }
}
