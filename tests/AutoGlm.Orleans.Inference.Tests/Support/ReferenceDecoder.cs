using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>
/// A batch-1 KV-cached forward loop written directly against ONNX Runtime, independent of the engine, so the
/// shipped graph is checked against torch without trusting any code under test.
/// </summary>
internal sealed class ReferenceDecoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly ModelManifest _manifest;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private OrtValue[] _past;
    private IDisposableReadOnlyCollection<OrtValue>? _lastOutputs;

    public ReferenceDecoder(InferenceSession session, ModelManifest manifest)
    {
        _session = session;
        _manifest = manifest;
        _inputNames = manifest.GraphInputNames();
        _outputNames = manifest.GraphOutputNames();
        var emptyShape = new long[] { 1, manifest.NumKeyValueHeads, 0, manifest.HeadDim };
        _past = new OrtValue[2 * manifest.NumLayers];
        for (var i = 0; i < _past.Length; i++)
        {
            _past[i] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), emptyShape);
        }
    }

    public int CachedTokens { get; private set; }

    /// <summary>Feeds tokens after the cached ones; returns the last position's logits.</summary>
    public float[] Step(IReadOnlyList<int> tokens)
    {
        var s = tokens.Count;
        var total = CachedTokens + s;
        var ids = new long[s];
        var positions = new long[s];
        for (var i = 0; i < s; i++)
        {
            ids[i] = tokens[i];
            positions[i] = CachedTokens + i;
        }

        var mask = Enumerable.Repeat(1L, total).ToArray();
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, s]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [1, total]);
        using var positionValue = OrtValue.CreateTensorValueFromMemory(positions, [1, s]);
        // A graph that positions tokens itself (GroupQueryAttention's rotary) has no position input.
        var inputs = _manifest.Inputs.PositionIds is null
            ? new List<OrtValue> { idsValue, maskValue }
            : new List<OrtValue> { idsValue, maskValue, positionValue };
        inputs.AddRange(_past);

        using var runOptions = new RunOptions();
        var outputs = _session.Run(runOptions, _inputNames, inputs, _outputNames);

        // The presents become the next past as they are; the previous outputs die only after this run used them.
        ReleasePast();
        _lastOutputs = outputs;
        _past = [.. outputs.Skip(1)];
        CachedTokens = total;
        // [1,1,V] for a graph that returns the last position only, [1,S,V] for one that returns all: the last V either way.
        return outputs[0].GetTensorDataAsSpan<float>()[^_manifest.VocabSize..].ToArray();
    }

    private void ReleasePast()
    {
        if (_lastOutputs is null)
        {
            foreach (var value in _past)
            {
                value.Dispose();
            }
        }
        else
        {
            _lastOutputs.Dispose();
        }
    }

    public void Dispose() => ReleasePast();
}
