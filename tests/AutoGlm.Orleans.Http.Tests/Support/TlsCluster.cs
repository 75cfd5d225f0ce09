using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>
/// Two real silo hosts (<see cref="SiloHost.Build"/>, as the Silo binary runs them) on free loopback ports, clustered
/// through Redis, each with the <c>Orleans:Tls:*</c> arguments it is given. Stopped in reverse order on dispose.
/// </summary>
public sealed class TlsCluster : IAsyncDisposable
{
    private readonly List<WebApplication> _silos = [];
    private readonly List<Uri> _httpAddresses = [];
    private readonly string _name;
    private readonly string _redis;

    private TlsCluster(string name, string redis)
    {
        _name = name;
        _redis = redis;
    }

    public string ClusterId { get; } = "tls-" + Guid.NewGuid().ToString("N");

    /// <summary>Each silo's HTTP API, in start order.</summary>
    public IReadOnlyList<Uri> HttpAddresses => _httpAddresses;

    /// <summary>Each silo's service provider, in start order.</summary>
    public IReadOnlyList<IServiceProvider> Services => [.. _silos.Select(s => s.Services)];

    /// <summary>
    /// Starts two silos; silo <c>i</c> gets <paramref name="tls"/>(i) (e.g. its certificate path) as extra arguments.
    /// <paramref name="name"/> names the cluster's lines in <see cref="SiloLogs"/>.
    /// </summary>
    public static async Task<TlsCluster> StartAsync(string name, string redisConnectionString, Func<int, string[]> tls, CancellationToken cancellationToken)
    {
        var cluster = new TlsCluster(name, redisConnectionString);
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var httpPort = SiloServer.FreePort();
                var silo = SiloHost.Build(
                [
                    "--redis", redisConnectionString,
                    "--cluster-id", cluster.ClusterId, "--service-id", cluster.ClusterId,
                    "--http-port", Port(httpPort), "--http-host", "127.0.0.1",
                    "--silo-port", Port(SiloServer.FreePort()), "--gateway-port", Port(SiloServer.FreePort()),
                    "--model", RepositoryPaths.DefaultModel,
                    "--Engine:IntraOpThreads", "1",
                    "--Engine:KvBudgetBytes", Port(256L * 1024 * 1024),
                    "--Conversations:ShutdownDeadline", "00:00:02",
                    "--Logging:LogLevel:Default", "Warning",
                    .. SiloLogs.QuietConsole,
                    .. tls(i),
                ]);
                SiloLogs.AddTo(silo.Services, $"{name} silo {i}");
                cluster._silos.Add(silo);
                cluster._httpAddresses.Add(new Uri($"http://127.0.0.1:{httpPort}"));
                await silo.StartAsync(cancellationToken);
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A started .NET client host over Redis clustering; <paramref name="tls"/> sets its TLS options (none: plain TCP).
    /// Without <paramref name="retry"/> the first failed connection fails the start (Orleans' default keeps retrying for minutes).
    /// </summary>
    public async Task<IHost> StartClientAsync(Action<AutoGlmTlsOptions>? tls, bool retry, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        SiloLogs.Configure(builder.Logging, $"{_name} client");
        var options = new AutoGlmClientOptions { RedisConnectionString = _redis, ClusterId = ClusterId, ServiceId = ClusterId };
        tls?.Invoke(options.Tls);
        builder.UseOrleansClient(client =>
        {
            client.UseAutoGlmCluster(options);
            if (!retry)
            {
                client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
            }
        });
        builder.Services.AddAutoGlmConversations();
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Each silo leaves the membership table as it stops.
        for (var i = _silos.Count - 1; i >= 0; i--)
        {
            await _silos[i].StopAsync(CancellationToken.None);
            await _silos[i].DisposeAsync();
        }

        _silos.Clear();
    }

    private static string Port(long value) => value.ToString(CultureInfo.InvariantCulture);

}
