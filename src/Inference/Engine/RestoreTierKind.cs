namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>Where the restore tier keeps the KV of evicted sequences (<see cref="EngineOptions.RestoreTierKind"/>).</summary>
public enum RestoreTierKind
{
    /// <summary>Host memory when the KV lives on a GPU (device memory is what ran out), disk otherwise.</summary>
    Auto,

    /// <summary>Byte arrays in host memory.</summary>
    Host,

    /// <summary>One file per sequence in <see cref="EngineOptions.RestoreTierPath"/>.</summary>
    Disk,

    /// <summary>No tier: an evicted sequence's next turn recomputes its history.</summary>
    Off,
}
