using System.Diagnostics;
using System.Globalization;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// Makes sure no child outlives the test, by pid: <see cref="Dispose"/> kills every survivor, so does the test host's
/// own exit (<see cref="AppDomain.ProcessExit"/>, which SIGTERM raises), and a watchdog shell kills them when the test
/// host dies without running anything (SIGKILL, crash). The watchdog reads the pid file this guard keeps and kills a
/// pid only if its command line still carries the run's marker, so a recycled pid is never hit, then deletes the run's
/// folder (the pid file's folder, when its name carries the marker).
/// </summary>
public sealed class ProcessGuard : IDisposable
{
    private const string WatchdogScript = """
        parent=$1; pids=$2; marker=$3
        while kill -0 "$parent" 2>/dev/null; do sleep 1; done
        [ -f "$pids" ] || exit 0
        for p in $(cat "$pids"); do
          if tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$marker"; then kill -9 "$p" 2>/dev/null; fi
        done
        run=$(dirname "$pids")
        case "$run" in *"$marker"*) rm -rf "$run" ;; *) rm -f "$pids" ;; esac
        """;

    private readonly object _gate = new();
    private readonly List<ChildProcess> _children = [];
    private readonly List<int> _started = [];
    private readonly string _pidFile;
    private readonly Process? _watchdog;
    private bool _disposed;

    public ProcessGuard(string pidFile, string marker)
    {
        _pidFile = pidFile;
        File.WriteAllText(_pidFile, string.Empty);
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var argument in new[] { "-c", WatchdogScript, "autoglm-fault-watchdog",
                     Environment.ProcessId.ToString(CultureInfo.InvariantCulture), _pidFile, marker })
        {
            start.ArgumentList.Add(argument);
        }

        _watchdog = Process.Start(start);
    }

    public void Add(ChildProcess child)
    {
        ArgumentNullException.ThrowIfNull(child);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _children.Add(child);
            _started.Add(child.Pid);
            File.AppendAllText(_pidFile, child.Pid.ToString(CultureInfo.InvariantCulture) + "\n");
        }
    }

    /// <summary>Pids of the children still running.</summary>
    public IReadOnlyList<int> LivePids()
    {
        lock (_gate)
        {
            return [.. _children.Where(c => !c.HasExited).Select(c => c.Pid)];
        }
    }

    /// <summary>Every pid this guard was given, alive or not (to check afterwards that none survived).</summary>
    public IReadOnlyList<int> StartedPids
    {
        get
        {
            lock (_gate)
            {
                return [.. _started];
            }
        }
    }

    public void KillAll()
    {
        ChildProcess[] children;
        lock (_gate)
        {
            children = [.. _children];
        }

        foreach (var child in children)
        {
            child.KillIfAlive();
        }
    }

    public void Dispose()
    {
        KillAll();
        lock (_gate)
        {
            _disposed = true;
        }

        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        if (_watchdog is not null)
        {
            try
            {
                if (!_watchdog.HasExited)
                {
                    _watchdog.Kill();
                }

                _watchdog.WaitForExit(5_000);
            }
            catch (InvalidOperationException)
            {
            }

            _watchdog.Dispose();
        }

        File.Delete(_pidFile);
    }

    private void OnProcessExit(object? sender, EventArgs e) => KillAll();
}
