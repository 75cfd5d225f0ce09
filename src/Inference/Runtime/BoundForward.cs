using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// A shared-buffer forward whose inputs and outputs stay bound between runs: made once per batch shape, run every
/// step. Binding by name converts each of a graph's ~30 names to UTF-8 (an allocation apiece) and crosses into
/// ONNX Runtime twice per tensor, every step; bound once, a CPU step is one call. The caller keeps the bound values
/// alive and writes new inputs into their memory in place; disposing this unbinds them.
/// </summary>
internal sealed class BoundForward : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions;
    private readonly OrtIoBinding _binding;
    private readonly (string Name, OrtValue Value)[] _hostInputs;

    /// <param name="hostInputs">
    /// Host inputs to bind again before each run, or empty. An IoBinding copies an input to the device that reads it
    /// when it is bound, so on a GPU a host buffer written in place after binding would never reach the graph: there
    /// the few small inputs (ids, positions, mask) are bound anew each step, the KV and the logits still once.
    /// </param>
    internal BoundForward(InferenceSession session, RunOptions runOptions, OrtIoBinding binding, (string Name, OrtValue Value)[] hostInputs)
    {
        _session = session;
        _runOptions = runOptions;
        _binding = binding;
        _hostInputs = hostInputs;
    }

    /// <summary>One forward over the bound values: new tokens' KV written in place, logits into the bound output.</summary>
    public void Run()
    {
        foreach (var (name, value) in _hostInputs)
        {
            _binding.BindInput(name, value);
        }

        _session.RunWithBinding(_runOptions, _binding);
    }

    public void Dispose() => _binding.Dispose();
}
