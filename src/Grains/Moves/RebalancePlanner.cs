using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Moves;

/// <summary>
/// When a silo should hand idle conversations, with their KV, to another, and which: when its KV use passes the high
/// watermark, or its queue is much longer than the others'. It moves the largest idle caches first, only to the
/// least-loaded silo that stays under the low watermark after taking them, and stops once this silo is back under
/// the low watermark (or after <see cref="MaxPerRound"/>): the gap between the two watermarks keeps two silos from
/// passing the same conversations back and forth. Plain: unit tests drive it without Orleans.
/// </summary>
public static class RebalancePlanner
{
    public const int MaxPerRound = 8;

    /// <param name="local">This silo's probe.</param>
    /// <param name="waiting">Requests waiting in this silo's queue.</param>
    /// <param name="others">The other silos' probes (draining ones are skipped) and their queues.</param>
    /// <param name="idle">This silo's idle conversations and the KV bytes each holds.</param>
    public static IReadOnlyList<string> Plan(PlacementProbe local, int waiting, IReadOnlyList<(PlacementProbe Probe, int Waiting)> others,
        IReadOnlyList<(string Id, long Bytes)> idle, double highWatermark, double lowWatermark)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(others);
        ArgumentNullException.ThrowIfNull(idle);
        var candidates = others.Where(o => !o.Probe.Draining && o.Probe.KvBudgetBytes > 0).ToList();
        if (candidates.Count == 0 || local.KvBudgetBytes <= 0)
        {
            return [];
        }

        var used = local.KvBudgetBytes - local.KvFreeBytes;
        var overKv = used > highWatermark * local.KvBudgetBytes;
        var othersWaiting = candidates.Average(o => o.Waiting);
        var overQueue = waiting > 2 * othersWaiting + 4;
        if (!overKv && !overQueue)
        {
            return [];
        }

        var target = candidates.OrderBy(o => Used(o.Probe) / (double)o.Probe.KvBudgetBytes).ThenBy(o => o.Waiting).First().Probe;
        var room = (long)(lowWatermark * target.KvBudgetBytes) - Used(target);
        var goal = (long)(lowWatermark * local.KvBudgetBytes);
        var moves = new List<string>();
        foreach (var (id, bytes) in idle.Where(c => c.Bytes > 0).OrderByDescending(c => c.Bytes))
        {
            if (moves.Count >= MaxPerRound || (!overQueue && used <= goal))
            {
                break;
            }

            if (bytes > room)
            {
                continue;
            }

            moves.Add(id);
            room -= bytes;
            used -= bytes;
        }

        return moves;
    }

    private static long Used(PlacementProbe probe) => probe.KvBudgetBytes - probe.KvFreeBytes;
}
