using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests.Harness;

/// <summary>The harness's redis-server: AOF restarts on the same port and folder keep the data; disposal leaves nothing.</summary>
public sealed class RedisProcessTests
{
    [Fact]
    public async Task A_restart_after_SIGTERM_keeps_every_write_on_the_same_port()
    {
        var ct = TestContext.Current.CancellationToken;
        using var run = RunDirectory.Create("harness");
        using var redis = new RedisProcess(run, "everysec");
        await redis.StartAsync(ct);
        Assert.Equal("OK", await RespProbe.CommandAsync(redis.Port, "SET harness:key value-1", ct));

        await redis.StopAsync(ProcessSignal.Term, TimeSpan.FromSeconds(10));
        Assert.False(redis.IsRunning);
        await redis.StartAsync(ct);

        Assert.Equal("value-1", await RespProbe.CommandAsync(redis.Port, "GET harness:key", ct));
        Assert.Equal(2, redis.Starts);
    }

    [Fact]
    public async Task A_restart_after_SIGKILL_with_appendfsync_always_keeps_every_acknowledged_write()
    {
        var ct = TestContext.Current.CancellationToken;
        using var run = RunDirectory.Create("harness");
        using var redis = new RedisProcess(run, "always");
        await redis.StartAsync(ct);
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("OK", await RespProbe.CommandAsync(redis.Port, $"SET harness:{i} v{i}", ct));
        }

        await redis.StopAsync(ProcessSignal.Kill, TimeSpan.FromSeconds(10));
        await redis.StartAsync(ct);

        Assert.Equal(50, await redis.DbSizeAsync(ct));
        Assert.Equal("v49", await RespProbe.CommandAsync(redis.Port, "GET harness:49", ct));
    }

    [Fact]
    public async Task Disposal_kills_the_process_by_pid_and_deletes_the_folders()
    {
        var ct = TestContext.Current.CancellationToken;
        var run = RunDirectory.Create("harness");
        var redis = new RedisProcess(run);
        await redis.StartAsync(ct);
        var pid = redis.Pid!.Value;
        var sleeper = ChildProcess.Start("sleeper", "/bin/sh", ["-c", "exec sleep 300", run.Tag], run.File("sleeper.log"), run.Guard);

        redis.Dispose();
        run.Dispose();

        Assert.False(Posix.Exists(pid));
        Assert.False(Posix.Exists(sleeper.Pid));
        Assert.False(Directory.Exists(redis.DataDirectory));
        Assert.False(Directory.Exists(run.Path));
        sleeper.Dispose();
    }
}
