using AutoGlm.Orleans.Benchmarks.Raw;
using AutoGlm.Orleans.Inference.Runtime;

namespace AutoGlm.Orleans.Benchmarks.OrtGenAI.Forward;

/// <summary>ONNX Runtime alone: the engine benchmark's raw loop (<see cref="RawDecodeLoop"/>), a window at a time.</summary>
internal sealed class RawDecoder(string name, string modelPath, int intraOpThreads, IntraOpSpinning spinning, int promptLength, int totalSteps, int batch)
    : IWindowDecoder
{
    private readonly RawDecodeLoop _loop = new(modelPath, variant: null, intraOpThreads, spinning, batch, promptLength, totalSteps);

    public string Name { get; } = name;

    public Task<double> DecodeWindowAsync(int steps, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(_loop.Run(steps).TotalMilliseconds / steps);
    }

    public void Dispose() => _loop.Dispose();
}
