using AutoGlm.Orleans.Inference.KvCache;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// The KV budget's accounting on its own, no model: real host blocks of a toy geometry (one head of one float per key and
/// value: 8 bytes a token), handles holding them, and the pool's counters.
/// </summary>
public sealed class KvBudgetTests
{
    private const long BytesPerToken = 8;

    private static KvBlock Block(int capacity) =>
        new(OrtAllocator.DefaultInstance, TensorElementType.Float, sizeof(float), tensorCount: 2, heads: 1, headDim: 1, rows: 1, capacity);

    /// <summary>An idle handle caching <paramref name="tokens"/> tokens in a block of <paramref name="capacity"/>.</summary>
    private static KvCacheHandle Cached(KvCachePool pool, string id, int tokens, int capacity)
    {
        var handle = pool.GetOrCreate(id);
        Assert.True(pool.TryActivate(handle));
        handle.TokenList.AddRange(Enumerable.Range(1, tokens));
        handle.SetBlock(Block(capacity));
        pool.Deactivate(handle);
        return handle;
    }

    /// <summary>What the shared-buffer layout does: the cached tokens into a block of exactly their length.</summary>
    private static void Trim(KvCacheHandle handle) => handle.SetBlock(Block(handle.CachedTokenCount));

    [Fact]
    public void Used_bytes_are_the_blocks_whole_capacity_kept_as_they_change()
    {
        var pool = new KvCachePool(1000 * BytesPerToken, BytesPerToken);
        var a = Cached(pool, "a", tokens: 10, capacity: 100);
        Assert.Equal(100 * BytesPerToken, a.Bytes);
        Assert.Equal(a.Bytes, pool.UsedBytes);

        var b = Cached(pool, "b", tokens: 30, capacity: 64);
        Assert.Equal(164 * BytesPerToken, pool.UsedBytes);
        pool.Charge(null, 500 * BytesPerToken); // a decode batch's block
        Assert.Equal(664 * BytesPerToken, pool.Snapshot().UsedBytes);
        pool.Charge(null, -500 * BytesPerToken);

        a.Dispose();
        Assert.Equal(b.Bytes, pool.UsedBytes);
        b.Dispose();
        Assert.Equal(0, pool.UsedBytes);
        Assert.Equal(0, pool.Sequences);
    }

    [Fact]
    public void An_admission_takes_idle_headroom_back_before_it_evicts_anyone()
    {
        var pool = new KvCachePool(200 * BytesPerToken, BytesPerToken);
        pool.UseTrim(Trim);
        var a = Cached(pool, "a", tokens: 50, capacity: 150);

        Assert.True(pool.TryReserve(120 * BytesPerToken));

        Assert.Equal(0, pool.Evictions);
        Assert.Equal(50, a.CachedTokenCount);
        Assert.Equal(50 * BytesPerToken, a.Bytes);
        Assert.Equal(120 * BytesPerToken, pool.Snapshot().ReservedBytes);
    }

    [Fact]
    public void When_headroom_is_not_enough_the_least_recently_used_cache_goes()
    {
        var pool = new KvCachePool(200 * BytesPerToken, BytesPerToken);
        pool.UseTrim(Trim);
        var old = Cached(pool, "old", tokens: 80, capacity: 80);
        var recent = Cached(pool, "recent", tokens: 60, capacity: 100);

        // 180 idle + 100 > 200: the recent one's 40 spare tokens go first, then the old cache (80) has to.
        Assert.True(pool.TryReserve(100 * BytesPerToken));

        Assert.Equal(1, pool.Evictions);
        Assert.Equal(0, old.CachedTokenCount);
        Assert.Equal(0, old.Bytes);
        Assert.Equal(60, recent.CachedTokenCount);
        Assert.Equal(60 * BytesPerToken, recent.Bytes);
        Assert.Equal(60 * BytesPerToken, pool.UsedBytes);
        // Past what evicting everything idle could free: refused, and nothing is evicted for it.
        Assert.False(pool.TryReserve(101 * BytesPerToken));
        Assert.Equal(1, pool.Evictions);
        Assert.Equal(60, recent.CachedTokenCount);
        Assert.True(pool.TryReserve(41 * BytesPerToken));
        Assert.Equal(2, pool.Evictions);
        Assert.Equal(0, pool.UsedBytes);
    }

    [Fact]
    public void A_held_handle_counts_whole_until_a_reservation_covers_it_and_then_grows_inside_it()
    {
        var pool = new KvCachePool(200 * BytesPerToken, BytesPerToken);
        var a = Cached(pool, "a", tokens: 60, capacity: 60);
        Assert.True(pool.TryActivate(a)); // queued: held, not evictable, no reservation yet

        // Held memory is not inside anyone's reservation: 60 + 150 > 200.
        Assert.False(pool.TryReserve(150 * BytesPerToken));
        // Admitted with a reservation for its whole sequence (60 cached + 60 new): its memory now grows inside it.
        Assert.True(pool.TryReserve(120 * BytesPerToken, covering: a));
        Assert.Equal(80 * BytesPerToken, pool.Headroom(1000 * BytesPerToken));
        // A running generation's memory may also grow into what its reservation holds and does not use yet.
        Assert.Equal(140 * BytesPerToken, pool.Headroom(1000 * BytesPerToken, covered: true));
        a.SetBlock(Block(120));
        Assert.Equal(80 * BytesPerToken, pool.Headroom(1000 * BytesPerToken));
        Assert.Equal(80 * BytesPerToken, pool.Headroom(1000 * BytesPerToken, covered: true));
        pool.Charge(null, 100 * BytesPerToken); // a batch's spare rows, past every reservation
        Assert.Equal(0, pool.Headroom(1000 * BytesPerToken));
        pool.Charge(null, -100 * BytesPerToken);

        pool.Unreserve(120 * BytesPerToken, a);
        pool.Deactivate(a);
        Assert.Equal(0, pool.Snapshot().ReservedBytes);
        Assert.Equal(80 * BytesPerToken, pool.Headroom(1000 * BytesPerToken)); // idle now: evictable, but counted
        Assert.Throws<InvalidOperationException>(() => pool.Deactivate(a)); // given back twice is a bug, said aloud
        Assert.Equal(1, pool.IdleCount);
    }

    [Fact]
    public void Memory_past_every_reservation_is_settled_by_evicting_idle_caches()
    {
        var pool = new KvCachePool(200 * BytesPerToken, BytesPerToken);
        var idle = Cached(pool, "idle", tokens: 100, capacity: 100);
        Assert.True(pool.TryReserve(50 * BytesPerToken));
        pool.Charge(null, 150 * BytesPerToken); // a batch padded past its rows' reservations

        pool.Settle();

        Assert.Equal(0, idle.CachedTokenCount);
        Assert.Equal(1, pool.Evictions);
        pool.Settle(); // within the budget again: nothing more to do
        Assert.Equal(1, pool.Evictions);
    }

    [Fact]
    public void The_handle_table_shrinks_after_a_burst_of_sequences_is_released()
    {
        var pool = new KvCachePool(1000 * BytesPerToken, BytesPerToken);
        var handles = Enumerable.Range(0, 5000).Select(i => pool.GetOrCreate($"burst-{i}")).ToList();
        Assert.True(pool.HandleTableCapacity >= 5000);

        foreach (var handle in handles.Skip(10))
        {
            handle.Dispose();
        }

        Assert.Equal(10, pool.Sequences);
        Assert.True(pool.HandleTableCapacity < 100, $"{pool.HandleTableCapacity} buckets for 10 sequences");
        Assert.Equal(10, pool.IdleCount);
        Assert.Equal(10, pool.ReleaseIdle(TimeSpan.Zero));
        Assert.Equal(0, pool.Sequences);
    }
}
