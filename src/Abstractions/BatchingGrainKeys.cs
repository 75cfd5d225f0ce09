namespace AutoGlm.Orleans.Abstractions;

/// <summary>Helpers for the per-silo batcher's key.</summary>
public static class BatchingGrainKeys
{
    /// <summary>The batcher of a silo, from the silo's parsable address.</summary>
    public static IBatchingGrain ForSilo(IGrainFactory grainFactory, SiloAddress silo)
    {
        ArgumentNullException.ThrowIfNull(grainFactory);
        ArgumentNullException.ThrowIfNull(silo);
        return grainFactory.GetGrain<IBatchingGrain>(silo.ToParsableString());
    }
}
