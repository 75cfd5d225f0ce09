using System.Net;
using System.Text;
using System.Text.Json;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// A cluster of real processes on this machine: one redis-server (AOF) and N silos clustered through it, each on
/// its own free ports, all in one <see cref="RunDirectory"/>. Disposal kills every process by pid and deletes the folder.
/// </summary>
public sealed class ClusterProcesses : IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private ClusterProcesses(RunDirectory run, RedisProcess redis, IReadOnlyList<SiloProcess> silos)
    {
        Run = run;
        Redis = redis;
        Silos = silos;
    }

    public RunDirectory Run { get; }

    public RedisProcess Redis { get; }

    public IReadOnlyList<SiloProcess> Silos { get; }

    /// <summary>Every silo's HTTP base address, by silo index (fixed across restarts).</summary>
    public IReadOnlyList<Uri> HttpEndpoints => [.. Silos.Select(s => s.HttpBase)];

    public static Task<ClusterProcesses> StartAsync(int silos, IReadOnlyList<string> extraSiloArguments, string appendFsync,
        CancellationToken cancellationToken) =>
        StartAsync(silos, _ => extraSiloArguments, appendFsync, cancellationToken);

    /// <summary>
    /// As above, with arguments that name files of the run: <paramref name="prepare"/> writes them into the run's
    /// folder (a keys file, say) before any silo starts, and returns the extra arguments.
    /// </summary>
    public static async Task<ClusterProcesses> StartAsync(int silos, Func<RunDirectory, IReadOnlyList<string>> prepare, string appendFsync,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prepare);
        var run = RunDirectory.Create("fault");
        RedisProcess? redis = null;
        var processes = new List<SiloProcess>();
        try
        {
            redis = new RedisProcess(run, appendFsync);
            await redis.StartAsync(cancellationToken);
            var launch = new SiloLaunch(SiloBinary.Locate(), RepositoryPaths.DefaultModel, redis.ConnectionString,
                run.Tag, run.Tag, prepare(run));
            var ports = FreePorts.Take(3 * silos);
            for (var i = 0; i < silos; i++)
            {
                processes.Add(new SiloProcess(i, run, launch, new SiloPorts(ports[3 * i], ports[(3 * i) + 1], ports[(3 * i) + 2])));
            }

            await Task.WhenAll(processes.Select(s => s.StartAsync(StartTimeout, cancellationToken)));
            return new ClusterProcesses(run, redis, processes);
        }
        catch
        {
            foreach (var silo in processes)
            {
                silo.Dispose();
            }

            redis?.Dispose();
            run.Dispose();
            throw;
        }
    }

    /// <summary>The silo process an Orleans silo address ("S127.0.0.1:port:generation") belongs to.</summary>
    public SiloProcess? SiloOf(string? siloAddress) => Silos.FirstOrDefault(s => s.Owns(siloAddress));

    /// <summary>The HTTP base of a silo that answers <c>/healthz</c> 200, trying them in turn from <paramref name="preferred"/>.</summary>
    public async Task<Uri> FindLiveEndpointAsync(int preferred, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var attempt = 0; ; attempt++)
        {
            var silo = Silos[(preferred + attempt) % Silos.Count];
            if (silo.IsRunning)
            {
                try
                {
                    using var response = await probe.GetAsync(new Uri(silo.HttpBase, "/healthz"), cancellationToken);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        return silo.HttpBase;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
                {
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no silo answered /healthz 200 within {timeout}");
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>Every running silo's <c>/healthz</c> JSON, by silo index.</summary>
    public async Task<IReadOnlyDictionary<int, JsonElement>> HealthAsync(CancellationToken cancellationToken)
    {
        var health = new Dictionary<int, JsonElement>();
        foreach (var silo in Silos.Where(s => s.IsRunning))
        {
            health[silo.Index] = await silo.HealthAsync(cancellationToken);
        }

        return health;
    }

    /// <summary>The tail of every process's log, for a failure message.</summary>
    public string DescribeLogs(int lines)
    {
        var text = new StringBuilder();
        foreach (var silo in Silos)
        {
            text.AppendLine($"---- {silo.Name} (http {silo.Ports.Http}, silo {silo.Ports.Silo}, {silo.Starts} starts, running: {silo.IsRunning}) {silo.LogPath}");
            text.AppendLine(silo.Tail(lines));
        }

        text.AppendLine($"---- redis-server (port {Redis.Port}, {Redis.Starts} starts, running: {Redis.IsRunning}) {Redis.LogPath}");
        text.AppendLine(Redis.Tail(lines));
        return text.ToString();
    }

    public void Dispose()
    {
        foreach (var silo in Silos)
        {
            silo.Dispose();
        }

        Redis.Dispose();
        Run.Dispose();
    }
}
