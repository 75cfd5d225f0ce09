using Orleans.Runtime.Placement;

namespace AutoGlm.Orleans.Grains;

/// <summary>Returns the silo named by the grain's key; fails when that silo is not (or no longer) in the cluster.</summary>
public sealed class SiloPinnedPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString()!;
        SiloAddress wanted;
        try
        {
            wanted = SiloAddress.FromParsableString(key);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or IndexOutOfRangeException)
        {
            throw new OrleansException($"grain {target.GrainIdentity} must be keyed by a silo address; '{key}' is not one", ex);
        }

        foreach (var silo in context.GetCompatibleSilos(target))
        {
            if (silo.Equals(wanted))
            {
                return Task.FromResult(silo);
            }
        }

        throw new OrleansException($"silo {wanted} of grain {target.GrainIdentity} is not an active member of the cluster");
    }
}
