using System.Diagnostics;
using System.Globalization;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// One real child process: started with its stdout and stderr appended to a log file, signalled by pid, killed on
/// dispose if it still runs. Registered with a <see cref="ProcessGuard"/> the moment it starts.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly object _logGate = new();
    private bool _disposed;

    private ChildProcess(string name, Process process, StreamWriter log, string logPath)
    {
        Name = name;
        _process = process;
        _log = log;
        LogPath = logPath;
    }

    public string Name { get; }

    public string LogPath { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public static ChildProcess Start(string name, string fileName, IReadOnlyList<string> arguments, string logPath, ProcessGuard guard)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(guard);
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"==== {name} starting at {DateTimeOffset.Now:HH:mm:ss.fff}: {fileName} {string.Join(' ', arguments)}"));
        var process = new Process { StartInfo = start };
        var child = new ChildProcess(name, process, log, logPath);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        try
        {
            process.Start();
        }
        catch
        {
            log.Dispose();
            process.Dispose();
            throw;
        }

        guard.Add(child);
        child.Append(string.Create(CultureInfo.InvariantCulture, $"==== {name} pid {process.Id}"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Sends a signal by pid; false when the process has exited already.</summary>
    public bool Signal(ProcessSignal signal)
    {
        if (_process.HasExited)
        {
            return false;
        }

        Append(string.Create(CultureInfo.InvariantCulture, $"==== harness: SIG{signal.ToString().ToUpperInvariant()} to pid {Pid} at {DateTimeOffset.Now:HH:mm:ss.fff}"));
        if (signal == ProcessSignal.Kill)
        {
            _process.Kill();
            return true;
        }

        return Posix.Signal(Pid, signal);
    }

    /// <summary>True when the process exited within <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL if it still runs, and wait for it to be gone.</summary>
    public void KillIfAlive()
    {
        try
        {
            if (!_process.HasExited)
            {
                Append("==== harness: SIGKILL (cleanup)");
                _process.Kill();
            }

            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }
    }

    /// <summary>The last <paramref name="lines"/> lines of the log (every incarnation that wrote to the same file).</summary>
    public string Tail(int lines) => LogTail.Read(LogPath, lines);

    public void Dispose()
    {
        KillIfAlive();
        lock (_logGate)
        {
            _disposed = true;
            _log.Dispose();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logGate)
        {
            if (!_disposed)
            {
                _log.WriteLine(line);
            }
        }
    }
}
