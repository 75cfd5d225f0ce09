using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// One llama-server child process on a free loopback port, ready (GET /health is 200) once <see cref="StartAsync"/>
/// returns. It is killed by its pid when disposed, when startup fails, and when this process ends: on Ctrl-C
/// (SIGINT), SIGTERM, SIGHUP, SIGQUIT, normal exit or an unhandled exception, so no benchmark leaves a server holding
/// the cores (only SIGKILL, which no process can handle, would).
/// Its output goes to a log file whose tail a failed start reports.
/// </summary>
public sealed class LlamaServerProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<int, Process> Running = new();
    private static int _hooked;

    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly string _logPath;

    private LlamaServerProcess(Process process, StreamWriter log, string logPath, Uri baseAddress)
    {
        _process = process;
        _log = log;
        _logPath = logPath;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int Pid => _process.Id;

    /// <param name="binary">llama-server.</param>
    /// <param name="arguments">Its arguments, without --host and --port (chosen here).</param>
    public static async Task<LlamaServerProcess> StartAsync(string binary, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        HookProcessEnd();
        var port = FreePort();
        var start = new ProcessStartInfo(binary)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("--host");
        start.ArgumentList.Add("127.0.0.1");
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));

        var logPath = Path.Combine(Path.GetTempPath(), $"llama-server-{Guid.NewGuid():N}.log");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        if (!process.Start())
        {
            await log.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"could not start {binary}");
        }

        Running[process.Id] = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new LlamaServerProcess(process, log, logPath, new Uri($"http://127.0.0.1:{port}"));
        try
        {
            await server.WaitReadyAsync(TimeSpan.FromSeconds(120), cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task WaitReadyAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"llama-server exited with {_process.ExitCode} while starting: {LogTail()}");
            }

            try
            {
                // 503 while the model loads, 200 once the slots take requests.
                using var response = await http.GetAsync(new Uri("/health", UriKind.Relative), cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (deadline.Elapsed > limit)
            {
                throw new InvalidOperationException($"llama-server was not ready within {limit.TotalSeconds:F0} s: {LogTail()}");
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    private string LogTail()
    {
        try
        {
            using var reader = new StreamReader(new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            var lines = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return string.Join(" | ", lines.TakeLast(8));
        }
        catch (IOException ex)
        {
            return $"(no log: {ex.Message})";
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // The server's last lines after it was killed.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill(_process);
        try
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Killed but not reaped in time; the kernel reaps it when this process exits.
        }

        Running.TryRemove(_process.Id, out _);
        lock (_log)
        {
            _log.Dispose();
        }

        _process.Dispose();
        File.Delete(_logPath);
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }
    }

    /// <summary>Once per process: every server still running is killed by pid when this process ends, however it ends.</summary>
    private static void HookProcessEnd()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 1)
        {
            return;
        }

        static void KillAll()
        {
            foreach (var process in Running.Values)
            {
                Kill(process);
            }
        }

        Console.CancelKeyPress += (_, _) => KillAll();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => KillAll();
        // SIGTERM and SIGHUP end this process without ProcessExit (seen: exit by signal 15, the server left running);
        // the handler kills the servers and leaves the signal's own action, termination, to follow.
        Signals = [.. new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT }.Select(s => PosixSignalRegistration.Create(s, _ => KillAll()))];
    }

    /// <summary>Kept alive for the process's lifetime: a collected registration stops handling its signal.</summary>
    private static PosixSignalRegistration[] Signals { get; set; } = [];

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
