using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>KV blocks in host memory (the CPU execution provider): copies are plain memory copies.</summary>
internal sealed class HostKvMemory(ModelManifest manifest) : KvMemory(OrtAllocator.DefaultInstance, manifest)
{
    protected override unsafe void CopyBlocks(KvBlock source, int srcRow, int srcStart, KvBlock destination, int dstRow, int dstStart, long blockBytes)
    {
        for (var t = 0; t < source.TensorCount; t++)
        {
            var src = (byte*)source.Pointer(t);
            var dst = (byte*)destination.Pointer(t);
            for (var h = 0; h < source.Heads; h++)
            {
                Buffer.MemoryCopy(src + Offset(source, srcRow, h, srcStart), dst + Offset(destination, dstRow, h, dstStart), blockBytes, blockBytes);
            }
        }
    }

    protected override unsafe void TransferHost(KvBlock block, int row, long headBytes, nint host, bool toHost)
    {
        var buffer = (byte*)host;
        for (var t = 0; t < block.TensorCount; t++)
        {
            var tensor = (byte*)block.Pointer(t);
            for (var h = 0; h < block.Heads; h++, buffer += headBytes)
            {
                var kv = tensor + Offset(block, row, h, 0);
                if (toHost)
                {
                    Buffer.MemoryCopy(kv, buffer, headBytes, headBytes);
                }
                else
                {
                    Buffer.MemoryCopy(buffer, kv, headBytes, headBytes);
                }
            }
        }
    }
}
