using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace AutoGlm.Orleans.Benchmarks.Drain;

/// <summary>
/// One silo as a real child process, <c>dotnet AutoGlm.Orleans.Silo.dll …</c> on its own free ports (HTTP, silo,
/// gateway), clustered and stored through Redis; its stdout and stderr go to a log file. Ready once GET /healthz
/// answers 200. Disposal kills it by pid (the silos of a drain stay up, drained, until the benchmark ends).
/// </summary>
internal sealed class SiloChild : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly object _gate = new();
    private bool _disposed;

    private SiloChild(string name, Process process, StreamWriter log, string logPath, int httpPort, int siloPort)
    {
        Name = name;
        _process = process;
        _log = log;
        LogPath = logPath;
        SiloPort = siloPort;
        HttpBase = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{httpPort}"));
    }

    public string Name { get; }

    public Uri HttpBase { get; }

    public int SiloPort { get; }

    public string LogPath { get; }

    public int Pid => _process.Id;

    /// <summary>
    /// Starts the silo and waits until it is ready. <paramref name="extraArguments"/> (configuration keys) come last,
    /// so they override the defaults here.
    /// </summary>
    public static async Task<SiloChild> StartAsync(string name, string siloDll, string modelPath, string redis, string clusterId, string folder,
        IReadOnlyList<string> extraArguments, TimeSpan timeout)
    {
        var ports = FreePorts(3);
        string[] arguments =
        [
            siloDll,
            "--redis", redis,
            "--silo-port", Text(ports[1]), "--gateway-port", Text(ports[2]),
            "--http-port", Text(ports[0]), "--http-host", "127.0.0.1",
            "--cluster-id", clusterId, "--service-id", clusterId,
            "--model", modelPath,
            // One intra-op thread per silo: the silos share the machine's cores, as in the fault tests.
            "--Engine:IntraOpThreads", "1",
            // Room for every conversation of the run on the surviving silo (~12 MB each at 2,048 tokens).
            "--Engine:KvBudgetBytes", Text(1024L * 1024 * 1024),
            "--Logging:LogLevel:Default", "Warning",
            .. extraArguments,
        ];
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var logPath = Path.Combine(folder, name + ".log");
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        log.WriteLine("==== dotnet " + string.Join(' ', arguments));
        var process = new Process { StartInfo = start };
        SiloChild silo;
        try
        {
            process.Start();
            silo = new SiloChild(name, process, log, logPath, ports[0], ports[1]);
        }
        catch
        {
            log.Dispose();
            process.Dispose();
            throw;
        }

        process.OutputDataReceived += (_, e) => silo.Append(e.Data);
        process.ErrorDataReceived += (_, e) => silo.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await silo.WaitReadyAsync(timeout);
        }
        catch
        {
            silo.Dispose();
            throw;
        }

        return silo;
    }

    /// <summary>Whether an Orleans silo address ("S127.0.0.1:port:generation"), as a reply's "silo" gives it, is this silo.</summary>
    public bool Owns(string? siloAddress) =>
        siloAddress is not null && siloAddress.Contains(string.Create(CultureInfo.InvariantCulture, $":{SiloPort}:"), StringComparison.Ordinal);

    /// <summary>The last lines of the silo's log, for an error message.</summary>
    public string Tail(int lines)
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines));
        }
        catch (IOException ex)
        {
            return $"(log unreadable: {ex.Message})";
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }

            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        lock (_gate)
        {
            _disposed = true;
            _log.Dispose();
        }

        _process.Dispose();
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
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
                using var response = await probe.GetAsync(new Uri(HttpBase, "/healthz"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.GetType().Name;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Name} not ready within {timeout} (last /healthz: {last}):\n{Tail(40)}");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            if (!_disposed)
            {
                _log.WriteLine(line);
            }
        }
    }

    private static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Distinct free loopback ports: bound to port 0 together, then released for the child to take.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = new List<System.Net.Sockets.TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }
}
