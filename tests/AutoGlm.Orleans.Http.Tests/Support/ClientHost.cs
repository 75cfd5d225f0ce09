using AutoGlm.Orleans.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>A .NET client (AddAutoGlmClient, as an application registers it) connected to a silo's gateway.</summary>
public sealed class ClientHost : IAsyncDisposable
{
    private readonly IHost _host;

    private ClientHost(IHost host) => _host = host;

    public ConversationClient Conversations => _host.Services.GetRequiredService<ConversationClient>();

    public Microsoft.Extensions.AI.IChatClient Chat => _host.Services.GetRequiredService<Microsoft.Extensions.AI.IChatClient>();

    public static async Task<ClientHost> StartAsync(SiloServer server, string tenant = Abstractions.ConversationKeys.DefaultTenant,
        string? apiKey = null, CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddAutoGlmClient(o =>
        {
            o.GatewayPort = server.GatewayPort;
            o.ClusterId = server.ClusterId;
            o.ServiceId = server.ClusterId;
            o.Tenant = tenant;
            o.ApiKey = apiKey;
        });
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return new ClientHost(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        _host.Dispose();
    }
}
