using System.Net;
using AutoGlm.Orleans.Grains;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Silo;
using StackExchange.Redis;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddCommandLine(args, SiloConfiguration.SwitchMappings);
builder.Services.Configure<ModelOptions>(builder.Configuration.GetSection(ModelOptions.Section));
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));

var config = builder.Configuration;
if (config.GetValue<int?>("Http:Port") is { } httpPort)
{
    builder.WebHost.UseUrls($"http://localhost:{httpPort}");
}

var redis = SiloConfiguration.RedisConnectionString(config);
var siloPort = config.GetValue("Orleans:SiloPort", 11111);
var gatewayPort = config.GetValue("Orleans:GatewayPort", 30000);
var clusterId = config["Orleans:ClusterId"] ?? "autoglm";
var serviceId = config["Orleans:ServiceId"] ?? "autoglm";

builder.UseOrleans(silo =>
{
    if (redis is null)
    {
        silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: serviceId, clusterId: clusterId);
        silo.AddMemoryGrainStorage(ConversationGrain.StorageName);
    }
    else
    {
        var advertised = IPAddress.TryParse(config["Orleans:AdvertisedIP"], out var ip) ? ip : IPAddress.Loopback;
        silo.Configure<Orleans.Configuration.ClusterOptions>(o =>
        {
            o.ClusterId = clusterId;
            o.ServiceId = serviceId;
        });
        silo.ConfigureEndpoints(advertised, siloPort, gatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
        silo.UseRedisClustering(redis);
        silo.AddRedisGrainStorage(ConversationGrain.StorageName, o => o.ConfigurationOptions = ConfigurationOptions.Parse(redis));
    }

    silo.AddAutoGlmGrains(sp =>
    {
        var engine = config.GetSection(EngineSection.Section).Get<EngineSection>() ?? new EngineSection();
        var model = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ModelOptions>>().Value;
        return new EngineOptions
        {
            ModelPath = model.ResolvePath(),
            Device = engine.Device,
            IntraOpThreads = engine.IntraOpThreads,
            MaxBatchSize = engine.MaxBatchSize,
            MaxTokensPerStep = engine.MaxTokensPerStep,
            MaxQueueLength = engine.MaxQueueLength,
            KvBudgetBytes = engine.KvBudgetBytes,
            KvBudgetFraction = engine.KvBudgetFraction,
        };
    });
});

var app = builder.Build();
var inference = app.Services.GetRequiredService<InferenceEngine>();
app.Logger.LogInformation("Serving {Model} ({Layers} layers, context {Context}) on {Device}; clustering: {Clustering}",
    inference.Manifest.Name, inference.Manifest.NumLayers, inference.Manifest.ContextLength, inference.Device,
    redis is null ? "localhost" : "redis");
app.MapGet("/healthz", () =>
{
    var stats = inference.GetStats();
    return Results.Ok(new
    {
        status = "ready",
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
    });
});
app.Run();
