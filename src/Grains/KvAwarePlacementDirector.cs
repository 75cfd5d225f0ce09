using AutoGlm.Orleans.Abstractions;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Asks every compatible silo's engine grain for its load and whether it still holds the conversation's KV
/// (<see cref="ISiloEngineGrain.Probe"/>), then picks: the holder of the KV (most tokens) when there is one,
/// otherwise the most free KV (in coarse buckets, so near-equal silos tie), then the fewest conversations
/// (counting placements this director made in the last seconds, which the probes cannot see yet), then the
/// fewest running sequences. A silo that does not answer in time, or is shutting down, is skipped. Placement runs only when a
/// conversation has no activation, so this costs one probe per silo per activation.
/// </summary>
public sealed class KvAwarePlacementDirector(IGrainFactory grainFactory, ILogger<KvAwarePlacementDirector> logger) : IPlacementDirector
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan RecentWindow = TimeSpan.FromSeconds(5);
    private const int FreeKvBuckets = 32;

    private readonly object _lock = new();
    private readonly List<(SiloAddress Silo, long Tick)> _recent = [];

    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (silos.Length == 0)
        {
            throw new OrleansException($"no silo can host {target.GrainIdentity}");
        }

        if (silos.Length == 1)
        {
            return silos[0];
        }

        var conversationId = target.GrainIdentity.Key.ToString()!;
        var probes = await Task.WhenAll(silos.Select(silo => ProbeAsync(silo, conversationId))).ConfigureAwait(false);
        var answered = probes.Where(p => p.Probe is not null).Select(p => (p.Silo, Probe: p.Probe!)).ToList();
        // A silo that is shutting down takes nothing new, unless every silo is.
        if (answered.Any(p => !p.Probe.Draining))
        {
            answered.RemoveAll(p => p.Probe.Draining);
        }

        if (answered.Count == 0)
        {
            logger.LogWarning("No silo answered the placement probe for {Conversation}; placing at random", conversationId);
            return silos[Random.Shared.Next(silos.Length)];
        }

        var holder = answered.Where(p => p.Probe.HeldTokens > 0).OrderByDescending(p => p.Probe.HeldTokens).FirstOrDefault();
        if (holder.Silo is not null)
        {
            logger.LogDebug("Conversation {Conversation} goes back to {Silo}, which holds {Tokens} of its tokens",
                conversationId, holder.Silo, holder.Probe.HeldTokens);
            return holder.Silo;
        }

        var budget = Math.Max(1, answered.Max(p => p.Probe.KvBudgetBytes));
        var bucket = Math.Max(1, budget / FreeKvBuckets);
        lock (_lock)
        {
            var now = Environment.TickCount64;
            _recent.RemoveAll(r => now - r.Tick > RecentWindow.TotalMilliseconds);
            var chosen = answered
                .Select(p => (p.Silo, p.Probe, Recent: _recent.Count(r => r.Silo.Equals(p.Silo))))
                // Most free KV = least KV taken, in whole buckets so a few small conversations do not outweigh the count.
                .OrderBy(p => (p.Probe.KvBudgetBytes - p.Probe.KvFreeBytes) / bucket)
                .ThenBy(p => p.Probe.Conversations + p.Recent)
                .ThenBy(p => p.Probe.Running)
                .ThenBy(_ => Random.Shared.Next())
                .First();
            _recent.Add((chosen.Silo, now));
            return chosen.Silo;
        }
    }

    private async Task<(SiloAddress Silo, PlacementProbe? Probe)> ProbeAsync(SiloAddress silo, string conversationId)
    {
        try
        {
            var call = SiloEngineGrainKeys.ForSilo(grainFactory, silo).Probe(conversationId);
            var done = await Task.WhenAny(call, Task.Delay(ProbeTimeout)).ConfigureAwait(false);
            if (done != call)
            {
                _ = call.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
                logger.LogWarning("Silo {Silo} did not answer the placement probe in {Timeout}", silo, ProbeTimeout);
                return (silo, null);
            }

            return (silo, await call.ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Placement probe of silo {Silo} failed", silo);
            return (silo, null);
        }
    }
}
