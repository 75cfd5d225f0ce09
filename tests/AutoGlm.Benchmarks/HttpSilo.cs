using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AutoGlm.Orleans.Silo;
using Microsoft.AspNetCore.Builder;

namespace AutoGlm.Orleans.Benchmarks;

/// <summary>
/// A real silo host (Orleans + Kestrel, localhost clustering, in-memory storage) in this process, serving a model
/// over HTTP on 127.0.0.1 at free ports; ready (GET /healthz is 200) once <see cref="StartAsync"/> returns.
/// </summary>
internal sealed class HttpSilo : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HttpSilo(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri BaseAddress { get; }

    /// <summary>A plain client of the silo's HTTP API (the SDK clients of a benchmark are its own).</summary>
    public HttpClient Http { get; }

    /// <param name="modelPath">The model folder.</param>
    /// <param name="settings">More command-line settings for the silo (e.g. <c>--Engine:IntraOpThreads 2</c>).</param>
    public static async Task<HttpSilo> StartAsync(string modelPath, IReadOnlyList<string>? settings = null)
    {
        var port = FreePort();
        var app = SiloHost.Build(
        [
            "--http-port", Port(port), "--http-host", "127.0.0.1",
            "--silo-port", Port(FreePort()), "--gateway-port", Port(FreePort()),
            "--cluster-id", "bench-" + Guid.NewGuid().ToString("N"), "--model", modelPath, "--Logging:LogLevel:Default", "Warning",
            // Every log line to stderr: stdout carries the result JSON only.
            "--Logging:Console:LogToStandardErrorThreshold", "Trace",
            .. settings ?? [],
        ]);
        var silo = new HttpSilo(app, new Uri($"http://127.0.0.1:{port}"));
        try
        {
            await app.StartAsync();
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while ((await silo.Http.GetAsync("/healthz")).StatusCode != HttpStatusCode.OK)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException("the silo did not become ready within 120 s");
                }

                await Task.Delay(200);
            }
        }
        catch
        {
            await silo.DisposeAsync();
            throw;
        }

        return silo;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
