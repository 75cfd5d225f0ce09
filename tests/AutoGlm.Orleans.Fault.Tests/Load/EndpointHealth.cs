namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// Passive health checks, as load balancers do them (nginx's max_fails/fail_timeout, Envoy's outlier detection): an
/// endpoint that refused a connection is skipped for <see cref="EjectFor"/>, so retries do not keep knocking on a
/// dead process. When every endpoint is ejected, the preferred one is tried anyway.
/// </summary>
public sealed class EndpointHealth(RunClock clock, int endpoints)
{
    private readonly long[] _downUntil = new long[endpoints];

    public TimeSpan EjectFor { get; init; } = TimeSpan.FromSeconds(3);

    public void ConnectFailed(int endpoint) => Volatile.Write(ref _downUntil[endpoint], (clock.Now + EjectFor).Ticks);

    /// <summary><paramref name="preferred"/>, or the next endpoint after it that is not ejected.</summary>
    public int Pick(int preferred)
    {
        var now = clock.Now.Ticks;
        for (var i = 0; i < endpoints; i++)
        {
            var endpoint = (preferred + i) % endpoints;
            if (Volatile.Read(ref _downUntil[endpoint]) <= now)
            {
                return endpoint;
            }
        }

        return preferred % endpoints;
    }
}
