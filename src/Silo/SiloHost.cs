using System.Net;
using AutoGlm.Orleans.Grains;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Silo.Http;
using Orleans.Configuration;

namespace AutoGlm.Orleans.Silo;

/// <summary>Builds a silo process: Orleans silo + ASP.NET Core (HTTP API) in one host. Tests start it in-process.</summary>
public static class SiloHost
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Configuration.AddCommandLine(args, SiloConfiguration.SwitchMappings);
        builder.Services.Configure<ModelOptions>(builder.Configuration.GetSection(ModelOptions.Section));
        var config = builder.Configuration;
        var conversations = config.GetSection(ConversationOptions.Section);
        builder.Services.Configure<ConversationOptions>(conversations);
        // The drain deadline for running turns, then room for Kestrel and the Orleans silo to stop.
        var deadline = conversations.GetValue(nameof(ConversationOptions.ShutdownDeadline), new ConversationOptions().ShutdownDeadline);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = deadline + TimeSpan.FromSeconds(15));
        builder.Services.AddHostedService<GracefulShutdown>();

        if (config.GetValue<int?>("Http:Port") is { } httpPort)
        {
            builder.WebHost.UseUrls($"http://{config["Http:Host"] ?? "localhost"}:{httpPort}");
        }

        var maxBody = config.GetValue("Http:MaxRequestBodyBytes", SiloConfiguration.DefaultMaxRequestBodyBytes);
        builder.WebHost.ConfigureKestrel(o => o.Limits.MaxRequestBodySize = maxBody);

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
                silo.AddAutoGlmMemoryStorage();
            }
            else
            {
                var advertised = IPAddress.TryParse(config["Orleans:AdvertisedIP"], out var ip) ? ip : IPAddress.Loopback;
                silo.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = clusterId;
                    o.ServiceId = serviceId;
                });
                silo.ConfigureEndpoints(advertised, siloPort, gatewayPort, listenOnAnyHostAddress: !IPAddress.IsLoopback(advertised));
                silo.UseRedisClustering(redis);
                silo.AddAutoGlmRedisStorage(redis);
            }

            MembershipDefaults.Apply(silo, config.GetSection(MembershipDefaults.Section));
            TransportSecurity.Apply(silo, config);

            global::Orleans.Dashboard.ServiceCollectionExtensions.AddDashboard(silo);
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
        builder.Services.AddHttpApi(config);

        var app = builder.Build();
        var inference = app.Services.GetRequiredService<InferenceEngine>();
        app.Logger.LogInformation("Serving {Model} ({Layers} layers, context {Context}) on {Device}; clustering: {Clustering}",
            inference.Manifest.Name, inference.Manifest.NumLayers, inference.Manifest.ContextLength, inference.Device,
            redis is null ? "localhost" : "redis");
        app.MapHttpApi();
        return app;
    }
}
