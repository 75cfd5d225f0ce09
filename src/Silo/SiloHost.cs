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
        // The KV moves' deadline, the drain deadline for running turns, then room for Kestrel and the Orleans silo to stop.
        var deadline = conversations.GetValue(nameof(ConversationOptions.ShutdownDeadline), new ConversationOptions().ShutdownDeadline)
            + conversations.GetValue(nameof(ConversationOptions.MoveDeadline), new ConversationOptions().MoveDeadline);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = deadline + TimeSpan.FromSeconds(15));
        builder.Services.AddHostedService<GracefulShutdown>();

        var urls = HttpUrls(config);
        builder.WebHost.UseUrls([.. urls]);
        var managementPort = config.GetValue<int?>("Http:ManagementPort");
        var maxBody = config.GetValue("Http:MaxRequestBodyBytes", SiloConfiguration.DefaultMaxRequestBodyBytes);
        var maxConnections = config.GetValue<long?>("Http:MaxConcurrentConnections", SiloConfiguration.DefaultMaxConcurrentConnections);
        builder.WebHost.ConfigureKestrel(o =>
        {
            o.Limits.MaxRequestBodySize = maxBody;
            o.Limits.MaxConcurrentConnections = maxConnections;
        });

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

            // The dashboard's live log stream shows conversation ids: off unless an operator turns it on.
            var showTrace = config.GetValue("Dashboard:ShowTrace", false);
            global::Orleans.Dashboard.ServiceCollectionExtensions.AddDashboard(silo, o => o.HideTrace = !showTrace);
            silo.AddAutoGlmGrains(sp =>
            {
                // Every Engine:* key binds onto the engine's own options (a new option needs no copy here); the model
                // folder is Model:*'s.
                var model = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<ModelOptions>>().Value;
                var bound = config.GetSection("Engine").Get<EngineOptions>(o => o.ErrorOnUnknownConfiguration = true);
                return (bound ?? new EngineOptions { ModelPath = model.ResolvePath() }) with { ModelPath = model.ResolvePath() };
            });
        });
        builder.Services.AddHttpApi(config);

        var app = builder.Build();
        var inference = app.Services.GetRequiredService<InferenceEngine>();
        app.Logger.LogInformation("Serving {Model} ({Layers} layers, context {Context}) on {Device}; clustering: {Clustering}",
            inference.Manifest.Name, inference.Manifest.NumLayers, inference.Manifest.ContextLength, inference.Device,
            redis is null ? "localhost" : "redis");
        app.MapHttpApi(ApiHost(urls, managementPort), managementPort);
        return app;
    }

    /// <summary>
    /// The API's URLs (<c>Http:Port</c> on <c>Http:Host</c>, else ASP.NET Core's own <c>urls</c>), plus the management
    /// port on 127.0.0.1 when <c>Http:ManagementPort</c> is set.
    /// </summary>
    private static List<string> HttpUrls(IConfiguration config)
    {
        var urls = config.GetValue<int?>("Http:Port") is { } port
            ? [$"http://{config["Http:Host"] ?? "localhost"}:{port}"]
            : (config["urls"] ?? "http://localhost:5000").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        if (config.GetValue<int?>("Http:ManagementPort") is { } management)
        {
            urls.Add($"http://127.0.0.1:{management}");
        }

        return urls;
    }

    /// <summary>The host the API answers on, for the open-API rule: the first non-loopback one, else loopback.</summary>
    private static string ApiHost(IEnumerable<string> urls, int? managementPort)
    {
        var hosts = urls
            .Select(u => Uri.TryCreate(u.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal),
                UriKind.Absolute, out var uri) ? uri : null)
            .Where(u => u is not null && u.Port != managementPort)
            .Select(u => u!.Host)
            .ToList();
        return hosts.FirstOrDefault(h => !Auth.ApiAccess.IsLoopback(h)) ?? hosts.FirstOrDefault() ?? "localhost";
    }
}
