using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>GET /v1/models: the one model this cluster serves.</summary>
public static class ModelsEndpoint
{
    private static readonly long Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public static Task HandleAsync(HttpContext context, InferenceEngine inference) =>
        context.Response.WriteAsJsonAsync(new ModelList("list", [new ModelEntry(inference.Manifest.Name, "model", Created, "autoglm")]),
            HttpJsonContext.Default.ModelList);
}
