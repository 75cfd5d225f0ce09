using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// Runs the decoder graph: one forward over a batch of rows that share a past length. Knows the graph's tensor
/// names and shapes; knows nothing about requests, scheduling or sampling.
/// </summary>
public sealed class ModelRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly RunOptions _runOptions = new();
    private readonly OrtValue[] _inputs;
    private readonly OrtIoBinding? _binding;
    private readonly int _kvOffset;

    public ModelRunner(string modelDirectory, ModelManifest manifest, ExecutionDevice device, int intraOpThreads,
        IntraOpSpinning spinning = IntraOpSpinning.Off, TimeSpan spinDuration = default)
    {
        Manifest = manifest;
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = Math.Max(1, intraOpThreads),
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning == IntraOpSpinning.Off ? "0" : "1");
        if (spinning == IntraOpSpinning.WithinRun)
        {
            options.AddSessionConfigEntry("session.force_spinning_stop", "1");
        }

        if (spinning != IntraOpSpinning.Off && spinDuration > TimeSpan.Zero)
        {
            // A calibrated spin of about this long before a thread sleeps (ONNX Runtime's own count spins for much longer).
            options.AddSessionConfigEntry("session.intra_op.spin_duration_us",
                Math.Max(1L, (long)spinDuration.TotalMicroseconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (device == ExecutionDevice.Cuda)
        {
            options.AppendExecutionProvider_CUDA(0);
        }

        _session = new InferenceSession(Path.Combine(modelDirectory, manifest.OnnxFile), options);
        _inputNames = manifest.GraphInputNames();
        _outputNames = manifest.GraphOutputNames();
        try
        {
            RequireNames(manifest, "input", _inputNames, _session.InputMetadata.Keys);
            RequireNames(manifest, "output", _outputNames, _session.OutputMetadata.Keys);
        }
        catch
        {
            _session.Dispose();
            throw;
        }

        _inputs = new OrtValue[_inputNames.Length];
        Device = device;
        KvTensorCount = 2 * manifest.NumLayers;
        TakesPositions = manifest.Inputs.PositionIds is not null;
        _kvOffset = TakesPositions ? 3 : 2;
        if (manifest.PastPresentShareBuffer)
        {
            _binding = _session.CreateIoBinding();
        }
    }

    public ModelManifest Manifest { get; }

    /// <summary>
    /// False for a graph without a position_ids input (GroupQueryAttention doing the rotary at positions of its own):
    /// the position tensor callers pass is then not fed.
    /// </summary>
    public bool TakesPositions { get; }

    public ExecutionDevice Device { get; }

    /// <summary>Key and value tensors: two per layer, in graph order (layer 0 key, layer 0 value, …).</summary>
    public int KvTensorCount { get; }

    /// <summary>
    /// One forward. <paramref name="past"/> holds <see cref="KvTensorCount"/> tensors [B,H,P,Dh]. The result owns
    /// the logits and the presents [B,H,P+S,Dh]; the caller disposes what it does not keep.
    /// </summary>
    public ForwardResult Forward(OrtValue inputIds, OrtValue attentionMask, OrtValue positionIds, IReadOnlyList<OrtValue> past)
    {
        _inputs[0] = inputIds;
        _inputs[1] = attentionMask;
        if (TakesPositions)
        {
            _inputs[2] = positionIds;
        }

        for (var i = 0; i < KvTensorCount; i++)
        {
            _inputs[_kvOffset + i] = past[i];
        }

        var outputs = _session.Run(_runOptions, _inputNames, _inputs, _outputNames);
        Array.Clear(_inputs);
        var presents = new OrtValue[KvTensorCount];
        for (var i = 0; i < KvTensorCount; i++)
        {
            presents[i] = outputs[1 + i];
        }

        // The collection only lists the values; ownership passes to ForwardResult, which disposes each one.
        return new ForwardResult(outputs[0], presents, Manifest.LogitsMode == "last");
    }

    /// <summary>
    /// One forward of a shared-buffer graph: <paramref name="kv"/> ([B,H,Capacity,Dh] each, in the device's memory)
    /// is bound as both past and present, so the graph writes the new tokens' keys and values in place and no KV
    /// moves. Only the logits come back, into <paramref name="logits"/> (host memory, [B,S or 1,V]).
    /// </summary>
    public void ForwardInPlace(OrtValue inputIds, OrtValue attentionMask, OrtValue positionIds, IReadOnlyList<OrtValue> kv, OrtValue logits)
    {
        var binding = _binding ?? throw new InvalidOperationException($"model {Manifest.Name} does not share past and present buffers");
        try
        {
            BindInPlace(binding, inputIds, attentionMask, positionIds, kv, logits);
            _session.RunWithBinding(_runOptions, binding);
        }
        finally
        {
            binding.ClearBoundInputs();
            binding.ClearBoundOutputs();
        }
    }

    /// <summary>
    /// <see cref="ForwardInPlace"/>'s bindings made once, for a decode batch that runs the same shapes step after step:
    /// the values' memory stays the caller's, and each <see cref="BoundForward.Run"/> reads what it holds then (on a
    /// GPU, by binding the three small host inputs again: the KV and the logits stay bound).
    /// </summary>
    internal BoundForward Bind(OrtValue inputIds, OrtValue attentionMask, OrtValue positionIds, IReadOnlyList<OrtValue> kv, OrtValue logits)
    {
        if (!Manifest.PastPresentShareBuffer)
        {
            throw new InvalidOperationException($"model {Manifest.Name} does not share past and present buffers");
        }

        var binding = _session.CreateIoBinding();
        try
        {
            BindInPlace(binding, inputIds, attentionMask, positionIds, kv, logits);
            // On the CPU the graph reads the host buffers themselves; on a GPU binding copied them (BoundForward says why).
            (string, OrtValue)[] rebound = Device == ExecutionDevice.Cpu
                ? []
                : TakesPositions
                    ? [(_inputNames[0], inputIds), (_inputNames[1], attentionMask), (_inputNames[2], positionIds)]
                    : [(_inputNames[0], inputIds), (_inputNames[1], attentionMask)];
            return new BoundForward(_session, _runOptions, binding, rebound);
        }
        catch
        {
            binding.Dispose();
            throw;
        }
    }

    /// <summary>The shared-buffer forward's bindings: the inputs, each KV tensor as both past and present, the logits.</summary>
    private void BindInPlace(OrtIoBinding binding, OrtValue inputIds, OrtValue attentionMask, OrtValue positionIds, IReadOnlyList<OrtValue> kv, OrtValue logits)
    {
        binding.BindInput(_inputNames[0], inputIds);
        binding.BindInput(_inputNames[1], attentionMask);
        if (TakesPositions)
        {
            binding.BindInput(_inputNames[2], positionIds);
        }

        for (var i = 0; i < KvTensorCount; i++)
        {
            binding.BindInput(_inputNames[_kvOffset + i], kv[i]);
            binding.BindOutput(_outputNames[1 + i], kv[i]);
        }

        binding.BindOutput(_outputNames[0], logits);
    }

    /// <summary>
    /// A manifest derived from an exporter's config can name tensors the graph does not have (or miss one it needs);
    /// say which, instead of ONNX Runtime's failure at the first run.
    /// </summary>
    private static void RequireNames(ModelManifest manifest, string kind, string[] expected, IEnumerable<string> actual)
    {
        var present = actual.ToHashSet(StringComparer.Ordinal);
        var missing = expected.Where(n => !present.Contains(n)).ToList();
        if (missing.Count > 0)
        {
            throw new InvalidDataException(
                $"model {manifest.Name} ({manifest.OnnxFile}): the graph has no {kind} {string.Join(", ", missing)} "
                + $"(its {kind}s: {string.Join(", ", present.Order(StringComparer.Ordinal))})");
        }

        if (kind == "input" && present.Count > expected.Length)
        {
            var extra = present.Where(n => !expected.Contains(n, StringComparer.Ordinal)).Order(StringComparer.Ordinal);
            throw new InvalidDataException(
                $"model {manifest.Name} ({manifest.OnnxFile}): the graph takes inputs the manifest does not feed: {string.Join(", ", extra)}");
        }
    }

    /// <summary>
    /// The KV memory of this runner's device: host memory for the CPU provider; the CUDA provider's device memory,
    /// with device-to-device copies, for CUDA. The caller owns and disposes it.
    /// </summary>
    internal KvMemory CreateKvMemory()
    {
        if (Device != ExecutionDevice.Cuda)
        {
            return new HostKvMemory(Manifest);
        }

        CudaCopySupport.EnsureRegistered();
        var info = new OrtMemoryInfo("Cuda", OrtAllocatorType.DeviceAllocator, 0, OrtMemType.Default);
        return new DeviceKvMemory(new OrtAllocator(_session, info), Manifest);
    }

    /// <summary>A [1,H,0,Dh] past for a sequence with nothing cached.</summary>
    public OrtValue[] EmptyPast()
    {
        var shape = new long[] { 1, Manifest.NumKeyValueHeads, 0, Manifest.HeadDim };
        var past = new OrtValue[KvTensorCount];
        for (var i = 0; i < past.Length; i++)
        {
            past[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, Manifest.KvElementType, shape);
        }

        return past;
    }

    public void Dispose()
    {
        _binding?.Dispose();
        _runOptions.Dispose();
        _session.Dispose();
    }
}
