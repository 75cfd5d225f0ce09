using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// One real silo process, <c>dotnet AutoGlm.Orleans.Silo.dll …</c> on its own ports; ready when <c>GET /healthz</c>
/// answers 200. Killed (SIGKILL), terminated (SIGTERM, then waited for), restarted on the same ports; every
/// incarnation appends to the same log file. Disposal kills a survivor by pid.
/// </summary>
public sealed class SiloProcess : IDisposable
{
    private static readonly HttpClient Probe = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(2) })
    {
        Timeout = TimeSpan.FromSeconds(5),
    };

    private readonly RunDirectory _run;
    private readonly SiloLaunch _launch;
    private ChildProcess? _process;

    public SiloProcess(int index, RunDirectory run, SiloLaunch launch, SiloPorts ports)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(launch);
        ArgumentNullException.ThrowIfNull(ports);
        Index = index;
        _run = run;
        _launch = launch;
        Ports = ports;
        HttpBase = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{ports.Http}"));
        LogPath = run.File($"silo{index}.log");
    }

    public int Index { get; }

    public string Name => string.Create(CultureInfo.InvariantCulture, $"silo{Index}");

    public SiloPorts Ports { get; }

    public Uri HttpBase { get; }

    public string LogPath { get; }

    public bool IsRunning => _process is { HasExited: false };

    public int? Pid => IsRunning ? _process!.Pid : null;

    public int Starts { get; private set; }

    /// <summary>The command line of one incarnation (after <c>dotnet</c>).</summary>
    public IReadOnlyList<string> Arguments =>
    [
        _launch.SiloDll,
        "--redis", _launch.RedisConnectionString,
        "--silo-port", Port(Ports.Silo), "--gateway-port", Port(Ports.Gateway),
        "--http-port", Port(Ports.Http), "--http-host", "127.0.0.1",
        "--cluster-id", _launch.ClusterId, "--service-id", _launch.ServiceId,
        "--model", _launch.ModelPath,
        "--Engine:IntraOpThreads", "1",
        "--Engine:KvBudgetBytes", Port(256L * 1024 * 1024),
        "--Logging:LogLevel:Default", "Warning",
        .. _launch.ExtraArguments,
    ];

    /// <summary>Whether an Orleans silo address ("S127.0.0.1:port:generation") names this silo (any incarnation).</summary>
    public bool Owns(string? siloAddress) =>
        siloAddress is not null && siloAddress.Contains(string.Create(CultureInfo.InvariantCulture, $":{Ports.Silo}:"), StringComparison.Ordinal);

    /// <summary>Starts an incarnation and waits until <c>/healthz</c> answers 200.</summary>
    public async Task StartAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{Name} is running already");
        }

        _process?.Dispose();
        _process = ChildProcess.Start(Name, "dotnet", Arguments, LogPath, _run.Guard);
        Starts++;
        var watch = Stopwatch.StartNew();
        var last = "(no answer)";
        while (watch.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} while starting:\n{Tail(40)}");
            }

            try
            {
                using var response = await Probe.GetAsync(new Uri(HttpBase, "/healthz"), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is HttpRequestException || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                last = ex.GetType().Name + ": " + ex.Message;
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"{Name} not ready within {timeout} (last /healthz: {last}):\n{Tail(40)}");
    }

    /// <summary>SIGKILL, and wait until the process is gone.</summary>
    public async Task KillAsync()
    {
        var process = _process ?? throw new InvalidOperationException($"{Name} was never started");
        process.Signal(ProcessSignal.Kill);
        if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(10)))
        {
            throw new TimeoutException($"{Name} (pid {process.Pid}) survived SIGKILL for 10 s");
        }
    }

    /// <summary>SIGTERM, and wait up to <paramref name="timeout"/> for the process to exit by itself (then SIGKILL).</summary>
    public async Task<ShutdownResult> TerminateAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException($"{Name} was never started");
        var watch = Stopwatch.StartNew();
        process.Signal(ProcessSignal.Term);
        var exited = await process.WaitForExitAsync(timeout);
        var elapsed = watch.Elapsed;
        if (!exited)
        {
            process.KillIfAlive();
        }

        return new ShutdownResult(exited, elapsed, exited ? process.ExitCode : null);
    }

    /// <summary>A new incarnation on the same ports, after <see cref="KillAsync"/> or <see cref="TerminateAsync"/>.</summary>
    public Task RestartAsync(TimeSpan timeout, CancellationToken cancellationToken) => IsRunning
        ? throw new InvalidOperationException($"{Name} still runs; kill or terminate it first")
        : StartAsync(timeout, cancellationToken);

    /// <summary>The <c>/healthz</c> JSON of the running incarnation.</summary>
    public async Task<JsonElement> HealthAsync(CancellationToken cancellationToken)
    {
        using var response = await Probe.GetAsync(new Uri(HttpBase, "/healthz"), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    public string Tail(int lines) => LogTail.Read(LogPath, lines);

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
    }

    private static string Port(long value) => value.ToString(CultureInfo.InvariantCulture);
}
