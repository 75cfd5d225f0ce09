using System.ClientModel;
using System.Net;
using System.Net.Sockets;
using AutoGlm.Orleans.Silo;
using Microsoft.AspNetCore.Builder;
using OpenAI;
using OpenAI.Chat;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>A real silo host (Orleans silo + Kestrel) in-process, on free loopback ports, serving the default model.</summary>
public class SiloServer : IAsyncLifetime
{
    private readonly string[] _arguments;
    private WebApplication? _app;

    public SiloServer()
        : this([])
    {
    }

    /// <param name="arguments">More silo arguments (e.g. a keys file).</param>
    protected SiloServer(string[] arguments) => _arguments = arguments;

    public int GatewayPort { get; private set; }

    public string ClusterId { get; } = "http-tests-" + Guid.NewGuid().ToString("N");

    /// <summary>The silo's service provider (its engine, its stores).</summary>
    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("not started");

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(60) };

    public string Model { get; private set; } = string.Empty;

    public virtual async ValueTask InitializeAsync()
    {
        var httpPort = FreePort();
        GatewayPort = FreePort();
        BaseAddress = new Uri($"http://127.0.0.1:{httpPort}");
        Http.BaseAddress = BaseAddress;
        _app = SiloHost.Build(
        [
            "--http-port", Port(httpPort), "--http-host", "127.0.0.1",
            "--silo-port", Port(FreePort()), "--gateway-port", Port(GatewayPort),
            "--cluster-id", ClusterId, "--service-id", ClusterId,
            "--model", RepositoryPaths.DefaultModel,
            "--Engine:IntraOpThreads", "1",
            "--Engine:KvBudgetBytes", Port(256L * 1024 * 1024),
            "--Engine:MaxQueueWait", "00:00:45",
            "--Logging:LogLevel:Default", "Warning",
            .. SiloLogs.QuietConsole,
            .. _arguments,
        ]);
        SiloLogs.AddTo(_app.Services, GetType().Name);
        await _app.StartAsync(TestContext.Current.CancellationToken);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var response = await Http.GetAsync("/healthz", TestContext.Current.CancellationToken);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                break;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException("the silo did not become ready");
            }

            await Task.Delay(200, TestContext.Current.CancellationToken);
        }

        Model = "tiny-chat";
    }

    /// <summary>The OpenAI SDK, unmodified, pointed at this server; <paramref name="headers"/> go with every request.</summary>
    public ChatClient Chat(params (string Name, string Value)[] headers) => ChatWithKey("not-needed", headers);

    /// <summary>The OpenAI SDK with <paramref name="apiKey"/> as its key (sent as "Authorization: Bearer …").</summary>
    public ChatClient ChatWithKey(string apiKey, params (string Name, string Value)[] headers)
    {
        var options = new OpenAIClientOptions { Endpoint = new Uri(BaseAddress, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) };
        if (headers.Length > 0)
        {
            options.AddPolicy(new HeadersPolicy(headers), System.ClientModel.Primitives.PipelinePosition.PerCall);
        }

        return new(Model, new ApiKeyCredential(apiKey), options);
    }

    public virtual async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }
    }

    protected static string Port(long value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A free loopback port (bound and released), for every silo this project starts.</summary>
    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
