using AutoGlm.Orleans.Inference.Engine;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>The silo's HTTP surface: OpenAI-compatible API, native REST, health, Prometheus metrics, Orleans dashboard.</summary>
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
        services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(Meters).AddPrometheusExporter());
    }

    public static void MapHttpApi(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AutoGlm.Orleans.Silo.Http");
        app.Use((context, next) => ErrorResponses.HandleUnexpectedAsync(context, () => next(context), logger));
        app.MapGet("/healthz", HealthEndpoint.Handle);
        app.MapGet("/v1/models", (HttpContext context, InferenceEngine inference) => ModelsEndpoint.HandleAsync(context, inference));
        app.MapPost("/v1/chat/completions", (HttpContext context, ChatCompletionsEndpoint endpoint) => endpoint.HandleAsync(context));
        ConversationsEndpoints.Map(app);
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOrleansDashboard(routePrefix: "/dashboard");
    }
}
