using AutoGlm.Orleans.Inference.KvCache;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>Reads a handle's KV straight from its tensors, independently of the engine's own export.</summary>
internal static class KvReader
{
    /// <summary>
    /// The KV bytes of a handle's first <paramref name="tokens"/> positions, every tensor and head in order, read
    /// from host memory in whichever layout holds them (the order of a <see cref="KvSnapshot"/>'s data).
    /// </summary>
    public static byte[] HostBytes(KvCacheHandle handle, int tokens)
    {
        IReadOnlyList<OrtValue> tensors = handle.Layers ?? handle.Block?.Views(1)
            ?? throw new InvalidOperationException($"{handle.Id} holds no KV");
        var bytes = new List<byte>();
        foreach (var tensor in tensors)
        {
            var shape = tensor.GetTensorTypeAndShape().Shape;
            var (heads, length, headDim) = ((int)shape[1], (int)shape[2], (int)shape[3]);
            var elementSize = (int)(tensor.GetTensorMutableRawData().Length / (shape[0] * heads * length * headDim));
            var data = tensor.GetTensorMutableRawData();
            var block = tokens * headDim * elementSize;
            for (var h = 0; h < heads; h++)
            {
                bytes.AddRange(data.Slice(h * length * headDim * elementSize, block).ToArray());
            }
        }

        return [.. bytes];
    }
}
