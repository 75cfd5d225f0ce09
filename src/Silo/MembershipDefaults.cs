using Orleans.Configuration;

namespace AutoGlm.Orleans.Silo;

/// <summary>
/// Cluster membership tuned to notice a dead silo in seconds, not Orleans' ~15–30 s: a conversation whose silo
/// died is unreachable until the silo is declared dead, so detection time is the failover time. Every value can
/// be overridden under "Orleans:Membership" (<see cref="ClusterMembershipOptions"/> names; e.g.
/// <c>--Orleans:Membership:ProbeTimeout 00:00:01</c>).
/// <list type="bullet">
/// <item>ProbeTimeout 2 s × NumMissedProbesLimit 2: a silo that stops answering is suspected after about 4 s
/// (a SIGKILLed one refuses connections at once, which the probes see immediately).</item>
/// <item>NumVotesForDeathDeclaration 2 (capped by Orleans at the silos there are): two silos must agree, so one
/// silo's local trouble (GC pause, CPU starvation) does not evict a healthy peer.</item>
/// <item>TableRefreshTimeout 5 s, IAmAliveTablePublishTimeout 10 s: the membership table (Redis) is read often
/// enough that a declaration reaches every silo within seconds.</item>
/// </list>
/// Lower values detect faster but evict slow silos more readily; on 2 cores with 3 silos, ProbeTimeout below
/// 1 s causes false suspicions under load.
/// </summary>
public static class MembershipDefaults
{
    public const string Section = "Orleans:Membership";

    public static void Apply(ISiloBuilder silo, IConfigurationSection overrides)
    {
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 2;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
            overrides.Bind(o);
        });
    }
}
