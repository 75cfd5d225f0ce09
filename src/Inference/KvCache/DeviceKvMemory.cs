using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// KV blocks in the memory of an execution provider's device (CUDA), allocated by the session's device
/// allocator. Token ranges move with ONNX Runtime's device-to-device copy (<see cref="OrtEnv.CopyTensors"/>, which
/// needs the provider's library registered with the environment): the bytes never leave the device. ONNX Runtime
/// registers no host-to-host transfer for that API, so this path runs only with a GPU.
/// </summary>
internal sealed class DeviceKvMemory(OrtAllocator allocator, ModelManifest manifest) : KvMemory(allocator, manifest)
{
    private readonly List<OrtValue> _sources = [];
    private readonly List<OrtValue> _destinations = [];
    // The lists are reused across copies (no per-copy garbage on the scheduler's path), and a prefix copy for a
    // forked sequence runs on its caller's thread: the lock keeps the two from filling the same lists.
    private readonly Lock _gate = new();

    protected override void CopyBlocks(KvBlock source, int srcRow, int srcStart, KvBlock destination, int dstRow, int dstStart, long blockBytes)
    {
        var info = Allocator.Info;
        long[] shape = [blockBytes];
        using var scope = _gate.EnterScope();
        try
        {
            for (var t = 0; t < source.TensorCount; t++)
            {
                for (var h = 0; h < source.Heads; h++)
                {
                    // Byte views over each head's contiguous range: one batched copy call moves them all.
                    _sources.Add(OrtValue.CreateTensorValueWithData(info, TensorElementType.UInt8, shape,
                        source.Pointer(t) + (nint)Offset(source, srcRow, h, srcStart), blockBytes));
                    _destinations.Add(OrtValue.CreateTensorValueWithData(info, TensorElementType.UInt8, shape,
                        destination.Pointer(t) + (nint)Offset(destination, dstRow, h, dstStart), blockBytes));
                }
            }

            OrtEnv.Instance().CopyTensors(_sources, _destinations, null);
        }
        finally
        {
            foreach (var value in _sources)
            {
                value.Dispose();
            }

            foreach (var value in _destinations)
            {
                value.Dispose();
            }

            _sources.Clear();
            _destinations.Clear();
        }
    }

    public override void Dispose() => Allocator.Dispose();
}
