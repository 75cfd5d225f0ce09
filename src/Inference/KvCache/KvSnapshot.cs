using AutoGlm.Orleans.Inference.Models;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// What a <see cref="KvSnapshot"/>'s bytes mean: the model and KV geometry they were computed with, and the
/// version of their order. An engine imports a snapshot only when its descriptor equals the engine's own
/// (<see cref="Engine.InferenceEngine.KvDescriptor"/>): the same model (by name), layer count, KV heads, head
/// dimension and element type, and for a quantized (int8) KV the same scales. The graph's KV layout is not part of
/// it: the byte order is the same for all.
/// </summary>
/// <param name="Model">The model's name (model.json's <c>name</c>); variants of the same weights share it.</param>
/// <param name="Layers">Decoder layers: the snapshot holds a key and a value tensor for each.</param>
/// <param name="KvHeads">Key/value heads per tensor.</param>
/// <param name="HeadDim">Elements per head and token.</param>
/// <param name="ElementType">The KV's elements as model.json names them ("float32", "float16", "bfloat16", "int8"), stored as they are.</param>
/// <param name="ElementSize">Bytes per element.</param>
/// <param name="Format">The byte order's version, <see cref="KvSnapshot.CurrentFormat"/> for the order documented there.</param>
/// <param name="Scales">
/// For an int8 KV, the identity of the per-channel scales its bytes were quantized with
/// (<see cref="ModelManifest.KvScalesIdentity"/>): the same int8 byte means another value under other scales. Null
/// for a float KV.
/// </param>
public sealed record KvDescriptor(string Model, int Layers, int KvHeads, int HeadDim, string ElementType, int ElementSize,
    int Format = KvSnapshot.CurrentFormat, string? Scales = null)
{
    /// <summary>
    /// This model's descriptor; <paramref name="scales"/> is the quantization's identity
    /// (<see cref="ModelManifest.KvScalesIdentity"/>), required exactly when the KV is quantized.
    /// </summary>
    public static KvDescriptor Of(ModelManifest manifest, string? scales = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.KvQuantized == string.IsNullOrEmpty(scales))
        {
            throw new ArgumentException(
                $"model {manifest.Name}: a {manifest.KvElementTypeName} KV {(manifest.KvQuantized ? "needs" : "has no")} scales", nameof(scales));
        }

        return new(manifest.Name, manifest.NumLayers, manifest.NumKeyValueHeads, manifest.HeadDim, manifest.KvElementTypeName,
            manifest.ElementSize, KvSnapshot.CurrentFormat, scales);
    }

    /// <summary>Bytes one token costs: layers × 2 (key, value) × KV heads × head dim × element size.</summary>
    public long BytesPerToken => 2L * Layers * KvHeads * HeadDim * ElementSize;
}

/// <summary>
/// An exact copy of one sequence's KV cache, as bytes another engine can import (a conversation moving between
/// silos): the token ids it covers and, for those tokens, every layer's keys and values with no conversion.
/// <para>
/// Byte order (<see cref="CurrentFormat"/> = 1), whichever KV layout exported it: for each layer 0…L-1, its key
/// tensor then its value tensor; each tensor as [KV heads, tokens, head dim], row-major (head by head, and
/// within a head token by token, each token's head-dim elements contiguous); each element in the model's type
/// (<see cref="KvDescriptor.ElementType"/>) in the machine's byte order (little-endian on every platform this
/// runs on). So <see cref="Data"/> is exactly tokens × <see cref="KvDescriptor.BytesPerToken"/> bytes, and the
/// bytes of tensor t (t = 2 × layer + 0 for the key, + 1 for the value), head h, token i start at
/// ((t × KV heads + h) × tokens + i) × head dim × element size.
/// </para>
/// The snapshot keeps the arrays it is given (it does not copy them): do not change them while it is in use.
/// </summary>
public sealed class KvSnapshot
{
    /// <summary>The version of the byte order above.</summary>
    public const int CurrentFormat = 1;

    private readonly int[] _tokenIds;

    /// <summary>
    /// A snapshot of <paramref name="tokenIds"/> and their KV bytes, in the order above. Nothing is checked here
    /// (a snapshot may arrive from anywhere); <see cref="Engine.InferenceEngine.TryImportKv"/> checks it all.
    /// </summary>
    public KvSnapshot(KvDescriptor descriptor, int[] tokenIds, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        ArgumentNullException.ThrowIfNull(tokenIds);
        Descriptor = descriptor;
        _tokenIds = tokenIds;
        Data = data;
    }

    /// <summary>The model and KV geometry the bytes belong to.</summary>
    public KvDescriptor Descriptor { get; }

    /// <summary>The token ids whose keys and values <see cref="Data"/> holds, in order.</summary>
    public IReadOnlyList<int> TokenIds => _tokenIds;

    /// <summary>The keys and values, in the byte order documented on this class.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Tokens covered.</summary>
    public int TokenCount => _tokenIds.Length;

    /// <summary>The bytes <see cref="Data"/> must hold for its tokens under its descriptor.</summary>
    public long ExpectedBytes => _tokenIds.Length * Descriptor.BytesPerToken;

    internal ReadOnlySpan<int> TokenSpan => _tokenIds;
}
