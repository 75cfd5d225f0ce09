using AutoGlm.Orleans.Inference.Runtime;
using AutoGlm.Orleans.Inference.KvCache;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// How a graph's KV layout is driven: where a sequence's KV lives, how a prefill chunk extends it, how a kept
/// prefix is cut, and the decode batch that goes with it. One implementation per layout (Optimum concat,
/// shared buffer).
/// </summary>
internal interface IKvStrategy : IDisposable
{
    IDecodeBatch Batch { get; }

    /// <summary>
    /// Runs <paramref name="chunk"/> (token ids at positions CachedTokenCount…) of one sequence as a batch of one and
    /// appends their KV to the handle's. The caller appends the tokens to the handle's list afterwards.
    /// </summary>
    IStepLogits Prefill(KvCacheHandle handle, ReadOnlySpan<int> chunk, int promptLength);

    /// <summary>Keeps the first <paramref name="keep"/> cached tokens' KV, forgetting the rest.</summary>
    void Truncate(KvCacheHandle handle, int keep);

    /// <summary>
    /// Shrinks an idle handle's KV memory to exactly its cached tokens (its headroom given back to the budget), or does
    /// nothing when it holds no more than that. Called by the pool, under its lock, when the budget is short.
    /// </summary>
    void Trim(KvCacheHandle handle);

    /// <summary>
    /// Gives <paramref name="target"/> (empty, in no batch) its own copy of the KV of the first
    /// <paramref name="tokens"/> cached tokens of <paramref name="source"/>, byte for byte, in the memory the layout
    /// keeps an idle sequence's KV in. Called off the scheduler thread, so it touches no state the scheduler
    /// mutates: the caller holds <paramref name="source"/> (no generation, eviction or release can reach it) and
    /// sets the target's token list.
    /// </summary>
    void CopyPrefix(KvCacheHandle source, KvCacheHandle target, int tokens);

    /// <summary>
    /// Writes the KV of the first <paramref name="tokens"/> cached tokens of <paramref name="source"/> (idle, held
    /// by the caller) into <paramref name="destination"/>, in <see cref="KvSnapshot"/>'s byte order: device to
    /// host when the KV is on a GPU. Off the scheduler thread, like <see cref="CopyPrefix"/>.
    /// </summary>
    void Export(KvCacheHandle source, int tokens, Span<byte> destination);

    /// <summary>
    /// Gives <paramref name="target"/> (empty, in no pool and no batch) KV of its own holding
    /// <paramref name="tokens"/> tokens read from <paramref name="source"/> (<see cref="KvSnapshot"/>'s byte order),
    /// in the memory this layout keeps idle KV in: host to device on a GPU. The caller sets the token list.
    /// </summary>
    void Import(KvCacheHandle target, int tokens, ReadOnlySpan<byte> source);

    /// <summary>Where the KV lives ("Cpu", "Cuda") and how many bytes of it were moved between buffers.</summary>
    KvTraffic Traffic { get; }
}

/// <summary>Where KV lives and how much of it moved between buffers on that device.</summary>
internal readonly record struct KvTraffic(string Device, long BytesCopied, long BytesAllocated);
