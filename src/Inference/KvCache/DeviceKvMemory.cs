using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// KV blocks in the memory of an execution provider's device (CUDA), allocated by the session's device
/// allocator. Token ranges move with ONNX Runtime's device-to-device copy (<see cref="OrtEnv.CopyTensors"/>, which
/// needs the provider's library registered with the environment): the bytes never leave the device. ONNX Runtime
/// registers no host-to-host transfer for that API, so this path runs only with a GPU. The one exception is a
/// snapshot (<see cref="KvMemory.ReadRow"/>, <see cref="KvMemory.WriteRow"/>): the same API then copies device
/// to host or host to device, because a snapshot is bytes for another process.
/// </summary>
internal sealed class DeviceKvMemory(OrtAllocator allocator, ModelManifest manifest) : KvMemory(allocator, manifest)
{
    private readonly List<OrtValue> _sources = [];
    private readonly List<OrtValue> _destinations = [];
    // The lists are reused across copies (no per-copy garbage on the scheduler's path), and prefix copies and
    // snapshots run on their callers' threads: the lock keeps them from filling the same lists.
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
            Clear();
        }
    }

    protected override void TransferHost(KvBlock block, int row, long headBytes, nint host, bool toHost)
    {
        if (headBytes == 0)
        {
            return;
        }

        var device = Allocator.Info;
        var cpu = OrtMemoryInfo.DefaultInstance;
        long[] shape = [headBytes];
        using var scope = _gate.EnterScope();
        try
        {
            var offset = 0L;
            for (var t = 0; t < block.TensorCount; t++)
            {
                for (var h = 0; h < block.Heads; h++, offset += headBytes)
                {
                    // Listed as soon as made, so the finally disposes whatever was made before a failure.
                    (toHost ? _sources : _destinations).Add(OrtValue.CreateTensorValueWithData(device, TensorElementType.UInt8, shape,
                        block.Pointer(t) + (nint)Offset(block, row, h, 0), headBytes));
                    (toHost ? _destinations : _sources).Add(OrtValue.CreateTensorValueWithData(cpu, TensorElementType.UInt8, shape,
                        host + (nint)offset, headBytes));
                }
            }

            // No stream: the call returns once the bytes have landed, so the caller may unpin the host buffer.
            OrtEnv.Instance().CopyTensors(_sources, _destinations, null);
        }
        finally
        {
            Clear();
        }
    }

    private void Clear()
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

    public override void Dispose() => Allocator.Dispose();
}
