using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Silo.Auth;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// The silo's HTTP surface: OpenAI-compatible API, native REST, health, Prometheus metrics, Orleans dashboard, the
/// serving page. Every API route wants a tenant's key; the operator routes (/metrics, /dashboard, /dashboard/serving)
/// an admin key, or, with <c>Http:ManagementPort</c>, they are served only on that port of 127.0.0.1 (open there,
/// closed on the API port).
/// </summary>
public static class HttpApi
{
    /// <summary>Meters exported at /metrics.</summary>
    public static readonly string[] Meters =
    [
        "AutoGlm.Orleans.Inference",
        "AutoGlm.Orleans.Conversations",
        "Microsoft.Orleans",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
    ];

    public static void AddHttpApi(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<HttpTurnOptions>(configuration.GetSection(HttpTurnOptions.Section));
        services.AddSingleton<ConversationIndex>();
        services.AddSingleton<TurnCalls>();
        services.AddSingleton<ChatCompletionsEndpoint>();
        services.AddSingleton<Responses.ResponsesEndpoint>();
        services.AddApiAccess();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter());
    }

    public static void MapHttpApi(this WebApplication app, string httpHost, int? managementPort)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AutoGlm.Orleans.Silo.Http");
        app.Use((context, next) => ErrorResponses.HandleUnexpectedAsync(context, () => next(context), logger));
        app.UseApiAccess(httpHost);
        app.MapGet("/healthz", HealthEndpoint.Handle).AllowAnonymous();
        app.MapGet("/v1/models", (HttpContext context, InferenceEngine inference) => ModelsEndpoint.HandleAsync(context, inference))
            .RequireAuthorization(Policies.Tenant);
        app.MapPost("/v1/chat/completions", (HttpContext context, ChatCompletionsEndpoint endpoint) => endpoint.HandleAsync(context))
            .RequireAuthorization(Policies.Tenant).RequireRateLimiting(Policies.Turns);
        ConversationsEndpoints.Map(app);
        Responses.ResponsesEndpoint.Map(app);
        Responses.OpenAiConversationsEndpoints.Map(app);
        Operator(app.MapPost("/admin/drain", async (AutoGlm.Orleans.Grains.SiloDrainer drainer, HttpContext context) =>
        {
            // The process keeps running: an operator drains a silo (its conversations leave with their KV), then stops it.
            var watch = System.Diagnostics.Stopwatch.StartNew();
            await drainer.DrainAsync(context.RequestAborted);
            return Results.Json(new DrainResult(true, Math.Round(watch.Elapsed.TotalSeconds, 3)), HttpJsonContext.Default.DrainResult);
        }), managementPort);
        Operator(app.MapPrometheusScrapingEndpoint("/metrics"), managementPort);
        Operator(app.MapOrleansDashboard(routePrefix: "/dashboard"), managementPort);
        var (servingPage, servingData) = Serving.ServingEndpoints.Map(app);
        Operator(servingPage, managementPort);
        Operator(servingData, managementPort);
    }

    private static void Operator(IEndpointConventionBuilder route, int? managementPort)
    {
        if (managementPort is { } port)
        {
            route.RequireHost($"*:{port}").AllowAnonymous();
        }
        else
        {
            route.RequireAuthorization(Policies.Admin);
        }
    }
}
