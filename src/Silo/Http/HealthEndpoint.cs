using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>GET /healthz: 200 "ready" once the silo is active in its cluster and the engine's model is loaded; 503 before.</summary>
public static class HealthEndpoint
{
    public static IResult Handle(InferenceEngine inference, ISiloStatusOracle silo, IHostApplicationLifetime lifetime)
    {
        var active = silo.CurrentStatus == SiloStatus.Active && lifetime.ApplicationStarted.IsCancellationRequested
            && !lifetime.ApplicationStopping.IsCancellationRequested;
        var stats = inference.GetStats();
        return Results.Json(new
        {
            status = active ? "ready" : "starting",
            silo = silo.CurrentStatus.ToString(),
            model = inference.Manifest.Name,
            layers = inference.Manifest.NumLayers,
            context_length = inference.Manifest.ContextLength,
            kv_bytes_per_token = inference.Manifest.KvBytesPerToken,
            device = inference.Device.ToString(),
            running = stats.Running,
            waiting = stats.Waiting,
            kv_used_bytes = stats.Kv.UsedBytes,
            kv_budget_bytes = stats.Kv.BudgetBytes,
            sequences = stats.Kv.Sequences,
        }, statusCode: active ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }
}
