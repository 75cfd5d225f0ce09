using System.Diagnostics;
using System.Globalization;
using AutoGlm.Orleans.Fault.Tests.Audit;
using AutoGlm.Orleans.Fault.Tests.Faults;
using AutoGlm.Orleans.Fault.Tests.Load;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests;

/// <summary>
/// Fault claims across real processes: three silo processes and a redis-server with AOF (appendfsync everysec) on
/// this machine, twelve client lanes (REST and the OpenAI SDK, streaming and not) with load-balancer failover and
/// Idempotency-Keys, and real signals: SIGKILL a silo, SIGTERM a silo mid-stream, restart Redis. Every figure is
/// reported (test output and fault-report.txt beside the test assembly; every turn's attempts in fault-ledger.txt)
/// whether or not the claims hold.
/// </summary>
public sealed class ClusterFaultTests
{
    /// <summary>Fast failure detection, so a SIGKILLed silo is declared dead within the recovery bound.</summary>
    internal static readonly string[] MembershipTuning =
    [
        "--Orleans:Membership:ProbeTimeout", "00:00:01",
        "--Orleans:Membership:NumMissedProbesLimit", "2",
        "--Orleans:Membership:NumVotesForDeathDeclaration", "1",
        "--Orleans:Membership:TableRefreshTimeout", "00:00:01",
        "--Orleans:Membership:IAmAliveTablePublishTimeout", "00:00:02",
    ];

    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Acknowledged_turns_are_stored_exactly_once_through_a_silo_kill_a_graceful_stop_and_a_redis_restart()
    {
        var output = TestContext.Current.TestOutputHelper ?? throw new InvalidOperationException("no test output");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Deadline);
        var ct = deadline.Token;
        var watch = Stopwatch.StartNew();
        var settings = new LoadSettings();
        var cluster = await ClusterProcesses.StartAsync(3, MembershipTuning, "everysec", ct);
        var started = cluster.Run.Guard.StartedPids;
        var passed = false;
        try
        {
            var clusterUp = watch.Elapsed;
            using var load = new LoadRun(cluster, settings);
            var script = new FaultScript(cluster, load.Monitor, load.Clock);
            await load.RunAsync(script.RunAsync, ct);
            var loadTime = load.Clock.Now;

            var findings = new Findings();
            var turns = load.Ledger.Turns;
            LoadAudit.Run(turns, script.Faults, findings);
            RecoveryAudit.Run(turns, script.Faults, settings.Lanes, findings);
            var snapshots = await new HistoryReader(load.Http, cluster.HttpEndpoints).ReadAllAsync(load.Ledger.Conversations.Keys, ct);
            HistoryAudit.Run(turns, snapshots, findings);
            var restConversation = Conversation(turns, TurnKind.RestJson, TurnKind.RestStream);
            var sdkConversation = Conversation(turns, TurnKind.SdkJson, TurnKind.SdkStream);
            await new RefusalProbe(cluster, load.Http, settings).RunAsync(restConversation, sdkConversation, findings, ct);

            var report = FaultReport.Format("fault test: 3 silo processes + redis-server (AOF, appendfsync everysec)",
            [
                $"run {cluster.Run.Tag}, silo {SiloBinary.Configuration} build, cluster up in {clusterUp.TotalSeconds:F1}s, "
                + $"load ran {loadTime.TotalSeconds:F1}s, audit done at {watch.Elapsed.TotalSeconds:F1}s",
                $"{settings.RestLanes} REST lanes + {settings.SdkLanes} OpenAI SDK lanes, turns back to back "
                + $"({settings.ThinkTime.TotalMilliseconds:F0} ms think time), max_tokens {settings.MaxTokens}, temperature 0, streaming and not alternating",
                $"failover: next endpoint per retry, backoff {settings.FirstBackoff.TotalMilliseconds:F0} ms doubling to "
                + $"{settings.MaxBackoff.TotalSeconds:F1} s (or Retry-After), attempt timeout {settings.AttemptTimeout.TotalSeconds:F0} s, "
                + $"up to {settings.MaxRetries} retries ({LoadAudit.MaxRetries} allowed)",
                $"silo arguments: {string.Join(' ', cluster.Silos[0].Arguments.Skip(1))}",
            ], script.Faults, findings);
            output.WriteLine(report);
            await File.WriteAllTextAsync(Path.Combine(AppContext.BaseDirectory, "fault-report.txt"), report, ct);
            await File.WriteAllLinesAsync(Path.Combine(AppContext.BaseDirectory, "fault-ledger.txt"),
                turns.OrderBy(t => t.Started).Select(t => t.Describe()), ct);
            passed = findings.Failures.Count == 0;
            Assert.True(passed, string.Create(CultureInfo.InvariantCulture,
                $"{findings.Failures.Count} fault claims failed (report above):\n{string.Join("\n", findings.Failures)}"));
        }
        finally
        {
            if (!passed || Environment.GetEnvironmentVariable("AUTOGLM_KEEP_FAULT_LOGS") == "1")
            {
                output.WriteLine(cluster.DescribeLogs(40));
                // Only the latest failed run's logs are kept beside the test assembly.
                var logs = Path.Combine(AppContext.BaseDirectory, "fault-logs");
                if (Directory.Exists(logs))
                {
                    Directory.Delete(logs, recursive: true);
                }

                logs = Path.Combine(logs, cluster.Run.Tag);
                cluster.Run.CopyLogsTo(logs);
                output.WriteLine($"full logs: {logs}");
            }

            cluster.Dispose();
        }

        var survivors = started.Concat(cluster.Run.Guard.StartedPids).Distinct().Where(Posix.Exists).ToList();
        Assert.True(survivors.Count == 0, $"processes still alive after cleanup: {string.Join(", ", survivors)}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cleanup: all {cluster.Run.Guard.StartedPids.Count} processes started are gone ({watch.Elapsed.TotalSeconds:F1}s)"));
    }

    private static string Conversation(IReadOnlyList<TurnRecord> turns, params TurnKind[] kinds) =>
        turns.FirstOrDefault(t => kinds.Contains(t.Kind) && t.Acknowledged)?.ConversationId
        ?? turns.First(t => kinds.Contains(t.Kind)).ConversationId;
}
