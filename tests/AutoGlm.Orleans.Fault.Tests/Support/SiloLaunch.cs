namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>What every silo of a cluster is started with.</summary>
/// <param name="SiloDll">The built silo (<see cref="SiloBinary.Locate"/>).</param>
/// <param name="ModelPath">The model folder.</param>
/// <param name="RedisConnectionString">Clustering and grain storage.</param>
/// <param name="ClusterId">Unique per run: a stale member of another run never joins.</param>
/// <param name="ServiceId">Unique per run: grain state of another run is never read.</param>
/// <param name="ExtraArguments">More command-line arguments (configuration keys), appended as given.</param>
public sealed record SiloLaunch(
    string SiloDll,
    string ModelPath,
    string RedisConnectionString,
    string ClusterId,
    string ServiceId,
    IReadOnlyList<string> ExtraArguments);
