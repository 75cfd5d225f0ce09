using System.Diagnostics;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Benchmarks.OrtGenAI.Forward;

/// <summary>
/// ONNX Runtime alone, through our <see cref="ModelRunner"/> (the engine benchmark's raw loop): <c>batch</c> rows, a fixed input
/// token, a KV of random values as long as the prompt to start with. A shared-buffer graph gets one buffer with
/// room for every step, bound as past and present; the Concat graph's presents become the next step's past.
/// </summary>
internal sealed class RawDecoder : IWindowDecoder
{
    private readonly ModelRunner _runner;
    private readonly bool _inPlace;
    private readonly float[] _logits;
    private readonly OrtValue _logitsValue;
    private OrtValue[] _kv;
    private readonly int _batch;
    private int _length;

    public RawDecoder(string name, string modelPath, int intraOpThreads, IntraOpSpinning spinning, int promptLength, int totalSteps, int batch)
    {
        Name = name;
        _batch = batch;
        var manifest = ModelFolder.Load(modelPath);
        _runner = new ModelRunner(modelPath, manifest, ExecutionDevice.Cpu, intraOpThreads, spinning,
            new AutoGlm.Orleans.Inference.Engine.EngineOptions { ModelPath = modelPath }.IntraOpSpinDuration);
        _inPlace = manifest.PastPresentShareBuffer;
        _length = promptLength;
        var capacity = _inPlace ? promptLength + totalSteps + 8 : promptLength;
        var random = new Random(1);
        _kv = new OrtValue[_runner.KvTensorCount];
        for (var i = 0; i < _kv.Length; i++)
        {
            _kv[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, manifest.KvElementType,
                [batch, manifest.NumKeyValueHeads, capacity, manifest.HeadDim]);
            if (manifest.KvElementType == TensorElementType.Float)
            {
                foreach (ref var value in _kv[i].GetTensorMutableDataAsSpan<float>())
                {
                    value = (float)(random.NextDouble() - 0.5);
                }
            }
            else
            {
                _kv[i].GetTensorMutableRawData().Clear();
            }
        }

        _logits = new float[batch * manifest.VocabSize];
        _logitsValue = OrtValue.CreateTensorValueFromMemory(_logits, [batch, 1, manifest.VocabSize]);
    }

    public string Name { get; }

    public Task<double> DecodeWindowAsync(int steps, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < steps; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Step();
        }

        return Task.FromResult(Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps);
    }

    private void Step()
    {
        var total = ++_length;
        var mask = new long[_batch * total];
        Array.Fill(mask, 1L);
        var idValues = new long[_batch];
        Array.Fill(idValues, 464L);
        var positionValues = new long[_batch];
        Array.Fill(positionValues, total - 1L);
        using var ids = OrtValue.CreateTensorValueFromMemory(idValues, [_batch, 1]);
        using var positions = OrtValue.CreateTensorValueFromMemory(positionValues, [_batch, 1]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [_batch, total]);
        if (_inPlace)
        {
            _runner.ForwardInPlace(ids, maskValue, positions, _kv, _logitsValue);
            _ = _logits[^1];
            return;
        }

        using var result = _runner.Forward(ids, maskValue, positions, _kv);
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
