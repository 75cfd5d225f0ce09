namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>The three ports of one silo, kept across its restarts.</summary>
public sealed record SiloPorts(int Silo, int Gateway, int Http)
{
    public static SiloPorts Free()
    {
        var ports = FreePorts.Take(3);
        return new SiloPorts(ports[0], ports[1], ports[2]);
    }
}
