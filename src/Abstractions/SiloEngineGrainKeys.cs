namespace AutoGlm.Orleans.Abstractions;

/// <summary>Helpers for the key of a silo's <see cref="ISiloEngineGrain"/>.</summary>
public static class SiloEngineGrainKeys
{
    /// <summary>The engine grain of a silo, from the silo's parsable address.</summary>
    public static ISiloEngineGrain ForSilo(IGrainFactory grainFactory, SiloAddress silo)
    {
        ArgumentNullException.ThrowIfNull(grainFactory);
        ArgumentNullException.ThrowIfNull(silo);
        return grainFactory.GetGrain<ISiloEngineGrain>(silo.ToParsableString());
    }
}
