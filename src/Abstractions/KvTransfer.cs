namespace AutoGlm.Orleans.Abstractions;

/// <summary>
/// One part of a conversation's KV cache moving to another silo (a drain): the first part carries the token ids
/// and the geometry, every part a slice of the bytes (kept under Orleans' message size), the last one commits.
/// The bytes are the engine's layout-independent export: no float conversion on the way.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("autoglm.kv-transfer-part.v1")]
public sealed record KvTransferPart
{
    /// <summary>The sequence (the conversation's grain key) the KV is for.</summary>
    [Id(0)] public string SequenceId { get; init; } = string.Empty;
    /// <summary>Names one transfer: parts of another (an abandoned attempt) are never mixed in.</summary>
    [Id(1)] public Guid TransferId { get; init; }
    /// <summary>The exporting engine's KV geometry; the importer refuses a mismatch.</summary>
    [Id(2)] public string Geometry { get; init; } = string.Empty;
    /// <summary>The token ids the KV covers (first part only).</summary>
    [Id(3)] public IReadOnlyList<int>? Tokens { get; init; }
    [Id(4)] public long TotalBytes { get; init; }
    [Id(5)] public long Offset { get; init; }
    [Id(6)] public byte[] Data { get; init; } = [];

    public bool IsLast => Offset + Data.Length >= TotalBytes;
}
