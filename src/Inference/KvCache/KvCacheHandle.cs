using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// One sequence's KV cache (a conversation's): the token ids it covers and their keys and values for every
/// layer. Owned by its caller, accounted and possibly evicted by the <see cref="KvCachePool"/> while idle.
/// While the sequence sits in a running decode batch its KV lives in the batch's tensors, not here. Every change of
/// the KV memory it holds is charged to its pool at once, so the pool's figures are counters, never a scan.
/// </summary>
public sealed class KvCacheHandle : IDisposable
{
    private readonly KvCachePool _pool;
    private readonly List<int> _tokens = [];
    private OrtValue[]? _layers;
    private KvBlock? _block;
    private long _bytes;

    internal KvCacheHandle(KvCachePool pool, string id)
    {
        _pool = pool;
        Id = id;
    }

    public string Id { get; }

    /// <summary>Token ids whose keys and values are cached, in order.</summary>
    public IReadOnlyList<int> Tokens => _tokens;

    public int CachedTokenCount => _tokens.Count;

    /// <summary>
    /// Bytes of KV memory this handle holds: its block's whole capacity (headroom past the cached tokens included) or
    /// its tensors'; 0 while its KV sits in a decode batch (the batch's memory is charged to the pool as the batch's).
    /// </summary>
    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>How many times this handle's cache was evicted to make room for others.</summary>
    public int Evictions { get; internal set; }

    public bool IsReleased { get; internal set; }

    /// <summary>True while a generation uses the handle: it is then never evicted.</summary>
    public bool IsActive { get; internal set; }

    internal long LastUsedTimestamp { get; set; }

    internal bool ReleaseRequested { get; set; }

    /// <summary>
    /// Set (under the pool's lock) when its cache is evicted; cleared by the next generation's start, which then looks
    /// for the cache in the restore tier. Refilling the handle by an import clears it too.
    /// </summary>
    internal bool EvictedSinceUse { get; set; }

    /// <summary>Its node in the pool's idle list (holding KV, LRU order) or empty list, while idle; null otherwise.</summary>
    internal LinkedListNode<KvCacheHandle>? LruNode { get; set; }

    /// <summary>Where the pool counts this handle's memory; changed by the pool only, under its lock.</summary>
    internal KvBucket Bucket { get; set; }

    /// <summary>The spare capacity (bytes past its cached tokens) the pool counts as reclaimable while this handle is idle.</summary>
    internal long CountedHeadroom { get; set; }

    internal List<int> TokenList => _tokens;

    /// <summary>Per-layer key/value tensors [1,H,T,Dh] when the KV is held here (not in a batch); null otherwise.</summary>
    internal OrtValue[]? Layers => _layers;

    /// <summary>
    /// For a shared-buffer model: a one-row block whose first <see cref="CachedTokenCount"/> positions hold the
    /// KV (capacity to spare, so a prefill appends in place); null while the KV sits in a batch or is dropped.
    /// </summary>
    internal KvBlock? Block => _block;

    internal void SetBlock(KvBlock? block)
    {
        if (_block is not null && !ReferenceEquals(_block, block))
        {
            _block.Dispose();
        }

        _block = block;
        Recharge();
    }

    internal void SetLayers(OrtValue[]? layers)
    {
        if (_layers is not null && !ReferenceEquals(_layers, layers))
        {
            foreach (var tensor in _layers)
            {
                tensor.Dispose();
            }
        }

        _layers = layers;
        Recharge();
    }

    /// <summary>Charges the pool with the change of the memory held (a block's bytes, or [1,H,T,Dh] tensors' T tokens).</summary>
    private void Recharge()
    {
        var bytes = _block?.Bytes ?? (_layers is { Length: > 0 } layers ? KvLayout.LengthOf(layers[0]) * _pool.BytesPerToken : 0);
        var delta = bytes - _bytes;
        if (delta != 0)
        {
            Volatile.Write(ref _bytes, bytes);
            _pool.Charge(this, delta);
        }
    }

    /// <summary>
    /// Replaces this handle's tokens and KV with <paramref name="staging"/>'s, which is left empty: an import into
    /// an existing handle, so whoever holds this object sees the new cache. The old KV is disposed.
    /// </summary>
    internal void MoveCacheFrom(KvCacheHandle staging)
    {
        DropCache();
        _tokens.AddRange(staging._tokens);
        _layers = staging._layers;
        _block = staging._block;
        staging._layers = null;
        staging._block = null;
        staging._tokens.Clear();
        // The memory changes hands: the staging handle's charge goes, this one's comes.
        staging.Recharge();
        Recharge();
    }

    /// <summary>Drops the cached KV (eviction, release or an error); the tokens it covered are forgotten.</summary>
    internal void DropCache()
    {
        SetLayers(null);
        SetBlock(null);
        _tokens.Clear();
    }

    /// <summary>Releases the cache back to the pool; deferred until the end of a generation that uses it.</summary>
    public void Dispose() => _pool.Release(this);
}
