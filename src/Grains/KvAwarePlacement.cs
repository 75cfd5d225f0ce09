using Orleans.Placement;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Conversation placement: back to the silo whose engine still holds the conversation's KV; otherwise the silo
/// with the most free KV budget, ties broken by the fewest conversations and running sequences.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.kv-aware-placement.v1")]
public sealed class KvAwarePlacement : PlacementStrategy
{
    public static KvAwarePlacement Instance { get; } = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class KvAwarePlacementAttribute() : PlacementAttribute(KvAwarePlacement.Instance);
