using Orleans.Placement;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Places a grain on the silo its key names (a <see cref="SiloAddress"/> in parsable form): one grain per silo.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.silo-pinned-placement.v1")]
public sealed class SiloPinnedPlacement : PlacementStrategy
{
    public static SiloPinnedPlacement Instance { get; } = new();

    public override bool IsUsingGrainDirectory => true;
}

/// <summary>Marks a grain keyed by a silo address to live on exactly that silo.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class SiloPinnedPlacementAttribute() : PlacementAttribute(SiloPinnedPlacement.Instance);
