namespace AutoGlm.Orleans.Fault.Tests.Faults;

public enum FaultKind
{
    /// <summary>SIGKILL a silo, restart it on the same ports once the cluster recovered.</summary>
    KillSilo,

    /// <summary>SIGTERM a silo while a stream runs on it, wait for it to exit, restart it.</summary>
    TerminateSilo,

    /// <summary>SIGTERM redis-server (AOF fsynced), start it again on the same port and folder.</summary>
    RestartRedis,
}
