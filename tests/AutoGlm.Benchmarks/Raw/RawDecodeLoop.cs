using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Benchmarks.Raw;

/// <summary>
/// ONNX Runtime alone, through our <see cref="ModelRunner"/>: the raw decode loop the engine is measured against.
/// <c>batch</c> rows, a fixed input token, a KV of random values as long as the context to start with. A
/// shared-buffer graph gets one buffer with room for every step (and <c>padding</c> positions more, the mask as
/// wide and zero past the row, as the engine's batch block has), bound as past and present; the Concat graph's
/// presents become the next step's past. Shared by the engine benchmark and the GenAI console's forward command.
/// </summary>
internal sealed class RawDecodeLoop : IDisposable
{
    private readonly ModelRunner _runner;
    private readonly bool _inPlace;
    private readonly int _batch;
    private readonly int _capacity;
    private readonly bool _fullWidthMask;
    private readonly float[] _logits;
    private readonly OrtValue _logitsValue;
    private OrtValue[] _kv;
    private int _length;

    public RawDecodeLoop(string modelPath, string? variant, int threads, IntraOpSpinning spinning, int batch, int context, int maxSteps, int padding = 0)
    {
        var manifest = ModelFolder.Load(modelPath).WithVariant(variant);
        _runner = new ModelRunner(modelPath, manifest, ExecutionDevice.Cpu, threads, spinning, EngineOptions.DefaultIntraOpSpinDuration);
        _inPlace = manifest.PastPresentShareBuffer;
        _batch = batch;
        _length = context;
        _capacity = _inPlace ? context + maxSteps + 8 + padding : context;
        _fullWidthMask = _inPlace && padding > 0;
        var random = new Random(1);
        _kv = new OrtValue[_runner.KvTensorCount];
        for (var i = 0; i < _kv.Length; i++)
        {
            _kv[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, manifest.KvElementType,
                [batch, manifest.NumKeyValueHeads, _capacity, manifest.HeadDim]);
            if (manifest.KvElementType == TensorElementType.Float)
            {
                foreach (ref var value in _kv[i].GetTensorMutableDataAsSpan<float>())
                {
                    value = (float)(random.NextDouble() - 0.5);
                }
            }
            else
            {
                // float16 KV: zeros are finite, and attention's cost does not depend on the values.
                _kv[i].GetTensorMutableRawData().Clear();
            }
        }

        _logits = new float[batch * manifest.VocabSize];
        _logitsValue = OrtValue.CreateTensorValueFromMemory(_logits, [batch, 1, manifest.VocabSize]);
    }

    /// <summary>Runs <paramref name="steps"/> decode steps; their wall time.</summary>
    public TimeSpan Run(int steps)
    {
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < steps; i++)
        {
            Step();
        }

        return Stopwatch.GetElapsedTime(start);
    }

    private void Step()
    {
        var total = ++_length;
        var width = _fullWidthMask ? _capacity : total;
        var mask = new long[_batch * width];
        for (var r = 0; r < _batch; r++)
        {
            mask.AsSpan(r * width, total).Fill(1L);
        }

        var ids = new long[_batch];
        Array.Fill(ids, 464L);
        var positions = new long[_batch];
        Array.Fill(positions, total - 1L);
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [_batch, 1]);
        using var positionValue = OrtValue.CreateTensorValueFromMemory(positions, [_batch, 1]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [_batch, width]);
        if (_inPlace)
        {
            _runner.ForwardInPlace(idsValue, maskValue, positionValue, _kv, _logitsValue);
            _ = _logits[^1];
            return;
        }

        using var result = _runner.Forward(idsValue, maskValue, positionValue, _kv);
        _ = result.LastLogits(_batch - 1)[0];
        foreach (var tensor in _kv)
        {
            tensor.Dispose();
        }

        _kv = result.TakePresents();
    }

    public void Dispose()
    {
        foreach (var tensor in _kv)
        {
            tensor.Dispose();
        }

        _logitsValue.Dispose();
        _runner.Dispose();
    }
}
