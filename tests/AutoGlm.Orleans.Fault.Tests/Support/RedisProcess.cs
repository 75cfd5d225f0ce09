using System.Diagnostics;
using System.Globalization;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// A real redis-server on a free loopback port with AOF persistence (<c>--appendonly yes --appendfsync
/// everysec|always --save ''</c>) in its own folder. <see cref="StopAsync"/> signals it (SIGTERM: a graceful
/// shutdown that fsyncs the AOF; SIGKILL: whatever the fsync policy had written); <see cref="StartAsync"/> starts it
/// again on the same port and folder, so a restart keeps the data. Disposal kills it by pid and deletes the folder.
/// </summary>
public sealed class RedisProcess : IDisposable
{
    private readonly RunDirectory _run;
    private ChildProcess? _process;

    public RedisProcess(RunDirectory run, string appendFsync = "everysec")
    {
        ArgumentNullException.ThrowIfNull(run);
        if (appendFsync is not ("everysec" or "always"))
        {
            throw new ArgumentOutOfRangeException(nameof(appendFsync), appendFsync, "everysec or always");
        }

        _run = run;
        AppendFsync = appendFsync;
        Port = FreePorts.Take();
        DataDirectory = run.Folder("redis-data");
        LogPath = run.File("redis.log");
    }

    public int Port { get; }

    public string AppendFsync { get; }

    public string DataDirectory { get; }

    public string LogPath { get; }

    /// <summary>For StackExchange.Redis and the silos: loopback, and never give up while Redis restarts.</summary>
    public string ConnectionString => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port},abortConnect=false");

    public bool IsRunning => _process is { HasExited: false };

    public int? Pid => IsRunning ? _process!.Pid : null;

    public int Starts { get; private set; }

    public static string Executable => File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server";

    /// <summary>Starts redis-server and waits until PING answers PONG and the AOF is loaded.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("redis-server is running already");
        }

        _process?.Dispose();
        string[] arguments =
        [
            "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--dir", DataDirectory,
            "--appendonly", "yes", "--appendfsync", AppendFsync, "--save", "",
            "--daemonize", "no",
            // Keep argv as given: the process guard recognises its children by the run tag in their command line.
            "--set-proc-title", "no",
        ];
        _process = ChildProcess.Start("redis-server", Executable, arguments, LogPath, _run.Guard);
        Starts++;
        await WaitReadyAsync(TimeSpan.FromSeconds(30), cancellationToken);
    }

    /// <summary>Signals redis-server and waits for it to exit; the time it took.</summary>
    public async Task<TimeSpan> StopAsync(ProcessSignal signal, TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("redis-server was never started");
        var watch = Stopwatch.StartNew();
        process.Signal(signal);
        if (!await process.WaitForExitAsync(timeout))
        {
            process.KillIfAlive();
            throw new TimeoutException($"redis-server did not exit within {timeout} of SIG{signal.ToString().ToUpperInvariant()}");
        }

        return watch.Elapsed;
    }

    /// <summary>DBSIZE over a fresh connection (no client library), for a quick look.</summary>
    public async Task<long> DbSizeAsync(CancellationToken cancellationToken) =>
        long.Parse(await RespProbe.CommandAsync(Port, "DBSIZE", cancellationToken), CultureInfo.InvariantCulture);

    public string Tail(int lines) => LogTail.Read(LogPath, lines);

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private async Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        string last = "(no answer)";
        while (deadline.Elapsed < timeout)
        {
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with {_process.ExitCode}:\n{Tail(30)}");
            }

            try
            {
                last = await RespProbe.CommandAsync(Port, "PING", cancellationToken);
                if (last == "PONG")
                {
                    var persistence = await RespProbe.CommandAsync(Port, "INFO persistence", cancellationToken);
                    if (persistence.Contains("loading:0", StringComparison.Ordinal))
                    {
                        return;
                    }

                    last = "loading";
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException
                                           || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                last = ex.GetType().Name + ": " + ex.Message;
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new TimeoutException($"redis-server on port {Port} not ready within {timeout} (last: {last}):\n{Tail(30)}");
    }
}
