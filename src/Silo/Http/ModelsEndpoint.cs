using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>GET /v1/models: the one model this cluster serves.</summary>
public static class ModelsEndpoint
{
    private static readonly long Created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>404 <c>model_not_found</c> unless <paramref name="model"/> is the one this server serves.</summary>
    internal static void RequireServed(string model, InferenceEngine engine)
    {
        if (!string.Equals(model, engine.Manifest.Name, StringComparison.Ordinal))
        {
            throw new HttpApiException(StatusCodes.Status404NotFound, "model_not_found",
                $"the model '{model}' does not exist; this server serves '{engine.Manifest.Name}' (GET /v1/models)", "model");
        }
    }

    public static Task HandleAsync(HttpContext context, InferenceEngine inference) =>
        context.Response.WriteAsJsonAsync(new ModelList("list", [new ModelEntry(inference.Manifest.Name, "model", Created, "autoglm")]),
            HttpJsonContext.Default.ModelList);
}
