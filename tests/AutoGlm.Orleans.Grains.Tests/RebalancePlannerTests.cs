using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Moves;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class RebalancePlannerTests
{
    private const long Budget = 1000;

    private static PlacementProbe Probe(long used, bool draining = false) => new() { KvBudgetBytes = Budget, KvFreeBytes = Budget - used, Draining = draining };

    [Fact]
    public void Under_the_high_watermark_nothing_moves()
    {
        Assert.Empty(RebalancePlanner.Plan(Probe(800), 0, [(Probe(100), 0)], [("a", 300)], 0.85, 0.6));
    }

    [Fact]
    public void Over_it_the_largest_idle_caches_move_until_under_the_low_watermark_and_never_past_the_targets()
    {
        var idle = new[] { ("small", 50L), ("big", 200L), ("mid", 120L), ("empty", 0L) };
        var moves = RebalancePlanner.Plan(Probe(900), 0, [(Probe(100), 0), (Probe(500), 0)], idle, 0.85, 0.6);
        // 900 → 700 (big) → 580 (mid): under 600, stop; the target (100 used) stays under 600.
        Assert.Equal(["big", "mid"], moves);

        var crowded = RebalancePlanner.Plan(Probe(900), 0, [(Probe(550), 0)], idle, 0.85, 0.6);
        Assert.Equal(["small"], crowded);
    }

    [Fact]
    public void A_long_queue_moves_idle_conversations_even_with_kv_to_spare_and_draining_silos_take_nothing()
    {
        Assert.Equal(["a"], RebalancePlanner.Plan(Probe(100), 20, [(Probe(100), 1)], [("a", 50)], 0.85, 0.6));
        Assert.Empty(RebalancePlanner.Plan(Probe(100), 3, [(Probe(100), 1)], [("a", 50)], 0.85, 0.6));
        Assert.Empty(RebalancePlanner.Plan(Probe(900), 0, [(Probe(0, draining: true), 0)], [("a", 300)], 0.85, 0.6));
    }

    [Fact]
    public void Two_silos_over_the_watermark_pass_nothing_back_and_forth()
    {
        // Each is over 850; the other would end over 600 after taking anything: no move either way.
        Assert.Empty(RebalancePlanner.Plan(Probe(900), 0, [(Probe(880), 0)], [("a", 100)], 0.85, 0.6));
    }
}
