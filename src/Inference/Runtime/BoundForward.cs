using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// A shared-buffer forward whose inputs and outputs stay bound between runs: made once per batch shape, run every
/// step. Binding by name converts each of a graph's ~30 names to UTF-8 (an allocation apiece) and crosses into
/// ONNX Runtime twice per tensor, every step; bound once, a step is one call. The caller keeps the bound values
/// alive and writes new inputs into their memory in place; disposing this unbinds them.
/// </summary>
public sealed class BoundForward : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions;
    private readonly OrtIoBinding _binding;

    internal BoundForward(InferenceSession session, RunOptions runOptions, OrtIoBinding binding)
    {
        _session = session;
        _runOptions = runOptions;
        _binding = binding;
    }

    /// <summary>One forward over the bound values: new tokens' KV written in place, logits into the bound output.</summary>
    public void Run() => _session.RunWithBinding(_runOptions, _binding);

    public void Dispose() => _binding.Dispose();
}
