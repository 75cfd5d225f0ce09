using AutoGlm.Orleans.Grains;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// GET /healthz: 200 "ready" once the silo is active in its cluster and the engine's model is loaded; 503 before,
/// and from the moment it starts shutting down (a load balancer stops sending it turns).
/// </summary>
public static class HealthEndpoint
{
    public static IResult Handle(InferenceEngine inference, ISiloStatusOracle silo, IHostApplicationLifetime lifetime, SiloDrain drain)
    {
        var draining = drain.IsDraining || lifetime.ApplicationStopping.IsCancellationRequested;
        var active = silo.CurrentStatus == SiloStatus.Active && lifetime.ApplicationStarted.IsCancellationRequested && !draining;
        var stats = inference.GetStats();
        return Results.Json(new
        {
            status = active ? "ready" : draining ? "draining" : "starting",
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
            turns_running = drain.Running,
        }, statusCode: active ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }
}
