using AutoGlm.Orleans.Security;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace AutoGlm.Orleans.Client;

/// <summary>DI registration of the AutoGlm client.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>Connects an Orleans client (localhost or Redis) and registers <see cref="ConversationClient"/> and <see cref="IChatClient"/>.</summary>
    public static IHostApplicationBuilder AddAutoGlmClient(this IHostApplicationBuilder builder, Action<AutoGlmClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new AutoGlmClientOptions();
        configure?.Invoke(options);
        builder.UseOrleansClient(client => client.UseAutoGlmCluster(options));
        builder.Services.AddAutoGlmConversations(options.Tenant, options.ApiKey);
        return builder;
    }

    /// <summary>Points an Orleans client at the cluster.</summary>
    public static IClientBuilder UseAutoGlmCluster(this IClientBuilder client, AutoGlmClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.RedisConnectionString))
        {
            client.UseLocalhostClustering(options.GatewayPort, options.ServiceId, options.ClusterId);
        }
        else
        {
            client.Configure<global::Orleans.Configuration.ClusterOptions>(o =>
            {
                o.ClusterId = options.ClusterId;
                o.ServiceId = options.ServiceId;
            });
            client.UseRedisClustering(options.RedisConnectionString);
        }

        UseTls(client, options.Tls);
        return client;
    }

    private static void UseTls(IClientBuilder client, AutoGlmTlsOptions tls)
    {
        if (string.IsNullOrWhiteSpace(tls.CertificatePath))
        {
            return;
        }

        // Loaded now, so a wrong path or password fails the client's configuration, not its first connection.
        var certificate = ClusterTls.LoadCertificate(tls.CertificatePath, tls.CertificatePassword, server: false);
        var authority = ClusterTls.LoadAuthority(tls.CaCertificatePath);
        var pins = ClusterTls.Pins(tls.AllowedThumbprints, certificate, authority);
        client.UseTls(options => ClusterTls.Configure(options, certificate, pins, authority));
    }

    /// <summary>
    /// Registers <see cref="ConversationClient"/> and <see cref="IChatClient"/> over an already registered Orleans client,
    /// acting for <paramref name="tenant"/> with <paramref name="apiKey"/>.
    /// </summary>
    public static IServiceCollection AddAutoGlmConversations(this IServiceCollection services,
        string tenant = Abstractions.ConversationKeys.DefaultTenant, string? apiKey = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => new ConversationClient(sp.GetRequiredService<IGrainFactory>(), tenant, apiKey,
            sp.GetService<Microsoft.Extensions.Logging.ILogger<ConversationClient>>()));
        services.TryAddSingleton<AutoGlmChatClient>();
        services.TryAddSingleton<IChatClient>(sp => sp.GetRequiredService<AutoGlmChatClient>());
        return services;
    }
}
