using AutoGlm.Orleans.Inference.Models;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Silo;

/// <summary>The silo's model: its manifest and an ONNX Runtime session, loaded once at startup.</summary>
public sealed class LoadedModel : IDisposable
{
    public LoadedModel(IOptions<ModelOptions> options, ILogger<LoadedModel> logger)
    {
        var path = options.Value.ResolvePath();
        Manifest = ModelManifest.Load(path);
        using var sessionOptions = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        Session = new InferenceSession(System.IO.Path.Combine(path, Manifest.OnnxFile), sessionOptions);
        logger.LogInformation("Loaded model {Model} from {Path}: {Layers} layers, {Bytes} KV bytes per token",
            Manifest.Name, path, Manifest.NumLayers, Manifest.KvBytesPerToken);
    }

    public ModelManifest Manifest { get; }

    public InferenceSession Session { get; }

    public void Dispose() => Session.Dispose();
}
