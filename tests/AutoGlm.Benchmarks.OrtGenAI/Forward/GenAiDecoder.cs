using System.Diagnostics;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace AutoGlm.Orleans.Benchmarks.OrtGenAI.Forward;

/// <summary>ONNX Runtime GenAI's generator, greedy, as the multiturn benchmark runs it: the whole prompt appended once.</summary>
internal sealed class GenAiDecoder : IWindowDecoder
{
    private readonly DirectoryInfo _folder;
    private readonly Model _model;
    private readonly Generator _generator;

    public GenAiDecoder(string modelPath, int contextLength, int intraOpThreads, int[] prompt)
    {
        _folder = GenAiConfig.Write(modelPath, contextLength, intraOpThreads);
        _model = new Model(_folder.FullName);
        using var parameters = new GeneratorParams(_model);
        _generator = new Generator(_model, parameters);
        _generator.AppendTokens(prompt);
    }

    public string Name => "ortgenai";

    public Task<double> DecodeWindowAsync(int steps, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < steps; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            _generator.GenerateNextToken();
            _ = _generator.GetNextTokens()[0];
        }

        return Task.FromResult(Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps);
    }

    public void Dispose()
    {
        _generator.Dispose();
        _model.Dispose();
        _folder.Delete(recursive: true);
    }
}
