using AutoGlm.Orleans.Abstractions;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Grains.Moves;

/// <summary>The cluster's other active silos and their engine grains' probes: where a conversation's KV could go.</summary>
public sealed class OtherSilos(IGrainFactory grains, IClusterMembershipService membership, ILocalSiloDetails localSilo, ILogger<OtherSilos> logger)
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Every other active silo that answered in time (a silo that did not is left out).</summary>
    public async Task<IReadOnlyList<(SiloAddress Silo, PlacementProbe Probe)>> ProbeAsync(string sequenceId, CancellationToken cancellationToken)
    {
        var silos = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(localSilo.SiloAddress))
            .Select(m => m.SiloAddress)
            .ToArray();
        var answers = await Task.WhenAll(silos.Select(async silo =>
        {
            try
            {
                return (Silo: silo, Probe: (PlacementProbe?)await SiloEngineGrainKeys.ForSilo(grains, silo).Probe(sequenceId)
                    .WaitAsync(ProbeTimeout, cancellationToken));
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogDebug(ex, "Silo {Silo} did not answer the probe", silo);
                return (Silo: silo, Probe: null);
            }
        }));
        return [.. answers.Where(a => a.Probe is not null).Select(a => (a.Silo, a.Probe!))];
    }
}
