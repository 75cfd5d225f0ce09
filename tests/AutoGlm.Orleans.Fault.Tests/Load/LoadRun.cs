using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// Runs the lanes against a cluster while a fault script runs, then stops them: no new turn after the script ends,
/// the turns in progress get <see cref="DrainTimeout"/> to finish, then they are abandoned.
/// </summary>
public sealed class LoadRun : IDisposable
{
    private readonly ClusterProcesses _cluster;
    private readonly LoadSettings _settings;
    private readonly HttpClient _http;

    public LoadRun(ClusterProcesses cluster, LoadSettings settings)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(settings);
        _cluster = cluster;
        _settings = settings;
        Monitor = new LoadMonitor(cluster.Silos.Count, settings.Lanes);
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(15),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(45);

    public RunClock Clock { get; } = new();

    public Ledger Ledger { get; } = new();

    public LoadMonitor Monitor { get; }

    /// <summary>The HTTP client the lanes use (connection pool included), for reads after the load.</summary>
    public HttpClient Http => _http;

    public async Task RunAsync(Func<CancellationToken, Task> faults, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(faults);
        var endpoints = _cluster.HttpEndpoints;
        var runner = new FailoverRunner(Clock, Monitor, _settings, endpoints.Count);
        var rest = new RestTransport(_http, endpoints, Clock, Monitor, _settings);
        var sdk = new SdkTransport(_http, endpoints, Clock, Monitor, _settings);
        var lanes = Enumerable.Range(0, _settings.Lanes)
            .Select(lane => new ClientLane(lane, lane >= _settings.RestLanes, _cluster.Run.Tag, Ledger, runner, rest, sdk, Clock, _settings, endpoints.Count))
            .ToList();
        using var stop = new CancellationTokenSource();
        using var hard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var running = Task.WhenAll(lanes.Select(l => Task.Run(() => l.RunAsync(stop.Token, hard.Token), CancellationToken.None)));
        try
        {
            await faults(cancellationToken);
        }
        finally
        {
            await stop.CancelAsync();
            if (await Task.WhenAny(running, Task.Delay(DrainTimeout, CancellationToken.None)) != running)
            {
                await hard.CancelAsync();
            }

            await running;
        }
    }

    public void Dispose() => _http.Dispose();
}
