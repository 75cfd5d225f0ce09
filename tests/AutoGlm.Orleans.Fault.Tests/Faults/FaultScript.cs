using System.Globalization;
using AutoGlm.Orleans.Fault.Tests.Load;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests.Faults;

/// <summary>
/// The faults, in order, while the load runs: (a) SIGKILL silo 0 while it carries the request of a turn that another
/// silo generates (or, failing that, any attempt), restart it once every lane is served again; (b) SIGTERM silo 1 while a stream is sending text from it, wait for it to exit,
/// restart it; (c) SIGTERM redis-server and start it again on the same port and folder (down about a second). Each
/// waits for the cluster to serve every lane again (up to <see cref="RecoveryWait"/>) and pauses before the next.
/// </summary>
public sealed class FaultScript(ClusterProcesses cluster, LoadMonitor monitor, RunClock clock)
{
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan Spacing { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>How long to wait for every lane to be served again before going on (the assertion bound is far lower).</summary>
    public TimeSpan RecoveryWait { get; init; } = TimeSpan.FromSeconds(20);

    public TimeSpan GracefulStopTimeout { get; init; } = TimeSpan.FromSeconds(45);

    public TimeSpan RedisDowntime { get; init; } = TimeSpan.FromSeconds(1);

    public List<FaultRecord> Faults { get; } = [];

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(Warmup, cancellationToken);
        await KillSiloAsync(0, cancellationToken);
        await Task.Delay(Spacing, cancellationToken);
        await TerminateSiloAsync(1, cancellationToken);
        await Task.Delay(Spacing, cancellationToken);
        await RestartRedisAsync(cancellationToken);
        await Task.Delay(Spacing, cancellationToken);
    }

    private async Task KillSiloAsync(int index, CancellationToken cancellationToken)
    {
        var silo = cluster.Silos[index];
        var fault = Add(new FaultRecord { Name = $"a: SIGKILL {silo.Name}", Kind = FaultKind.KillSilo, Target = index });
        // Best: a turn whose HTTP request this silo carries while another silo generates it: the reply is cut from the
        // client, but the turn itself may complete; only its Idempotency-Key keeps the retry from running it twice.
        var cut = await monitor.WaitForInFlightAsync(index,
            t => t.Kind is TurnKind.RestJson or TurnKind.RestStream && t.PreviousSilo is not null && !silo.Owns(t.PreviousSilo),
            TimeSpan.FromSeconds(5), cancellationToken);
        if (cut is not null)
        {
            fault.Notes.Add($"killed while it carried {cut.Key}, generated on {cut.PreviousSilo}");
        }
        else if (!await monitor.WaitForInFlightAsync(index, TimeSpan.FromSeconds(5), cancellationToken))
        {
            fault.Notes.Add("no attempt was in flight on it");
        }

        fault.Notes.Add(string.Create(CultureInfo.InvariantCulture, $"{monitor.InFlight(index)} attempts in flight on its endpoint"));
        fault.At = clock.Now;
        await silo.KillAsync();
        fault.AllLanesRecovered = await monitor.WaitRecoveredAsync(clock, fault.At, RecoveryWait, cancellationToken);
        await silo.RestartAsync(ClusterProcesses.StartTimeout, cancellationToken);
        fault.Restarted = clock.Now;
    }

    private async Task TerminateSiloAsync(int index, CancellationToken cancellationToken)
    {
        var silo = cluster.Silos[index];
        var fault = Add(new FaultRecord { Name = $"b: SIGTERM {silo.Name}", Kind = FaultKind.TerminateSilo, Target = index });
        if (!await monitor.WaitForStreamTextAsync(index, TimeSpan.FromSeconds(10), cancellationToken))
        {
            fault.Notes.Add("no stream was sending text on it within 10 s");
        }
        else
        {
            fault.Notes.Add("signalled while a stream was sending text on its endpoint");
        }

        fault.At = clock.Now;
        fault.Shutdown = await silo.TerminateAsync(GracefulStopTimeout);
        var left = RecoveryWait - (clock.Now - fault.At);
        fault.AllLanesRecovered = await monitor.WaitRecoveredAsync(clock, fault.At, left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken);
        await silo.RestartAsync(ClusterProcesses.StartTimeout, cancellationToken);
        fault.Restarted = clock.Now;
    }

    private async Task RestartRedisAsync(CancellationToken cancellationToken)
    {
        var fault = Add(new FaultRecord { Name = "c: restart redis-server (SIGTERM, start on the same port and folder)", Kind = FaultKind.RestartRedis, Target = -1 });
        fault.At = clock.Now;
        var stopped = await cluster.Redis.StopAsync(ProcessSignal.Term, TimeSpan.FromSeconds(15));
        await Task.Delay(RedisDowntime, cancellationToken);
        await cluster.Redis.StartAsync(cancellationToken);
        fault.Restarted = clock.Now;
        fault.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"exited {stopped.TotalSeconds:F2}s after SIGTERM, down {(fault.Restarted.Value - fault.At).TotalSeconds:F2}s in all"));
        var left = RecoveryWait - (clock.Now - fault.At);
        fault.AllLanesRecovered = await monitor.WaitRecoveredAsync(clock, fault.At, left > TimeSpan.Zero ? left : TimeSpan.Zero, cancellationToken);
    }

    private FaultRecord Add(FaultRecord fault)
    {
        Faults.Add(fault);
        return fault;
    }
}
