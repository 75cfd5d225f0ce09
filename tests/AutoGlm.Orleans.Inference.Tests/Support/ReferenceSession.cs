using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>A plain ONNX Runtime session over the default model, for checks independent of the engine.</summary>
internal sealed class ReferenceSession : IDisposable
{
    private ReferenceSession(ModelManifest manifest, InferenceSession session)
    {
        Manifest = manifest;
        Session = session;
    }

    public ModelManifest Manifest { get; }

    public InferenceSession Session { get; }

    public static ReferenceSession Open()
    {
        var manifest = ModelManifest.Load(RepositoryPaths.DefaultModel);
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        return new ReferenceSession(manifest, new InferenceSession(Path.Combine(RepositoryPaths.DefaultModel, manifest.OnnxFile), options));
    }

    public void Dispose() => Session.Dispose();
}
