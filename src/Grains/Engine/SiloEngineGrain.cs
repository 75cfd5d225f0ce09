using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Moves;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Placement;

namespace AutoGlm.Orleans.Grains.Engine;

/// <summary>
/// What the rest of the cluster asks of this silo's <see cref="InferenceEngine"/>: its load (placement, the serving
/// page), whether it holds a sequence's KV, KV moving in from another silo, and releasing a deleted conversation's
/// KV. One per silo (keyed by the silo's address and pinned there), never moved, never collected, reentrant. Turns do
/// not pass through it: a conversation grain submits to the engine of its own silo directly.
/// </summary>
[SiloPinnedPlacement]
[Immovable]
[KeepAlive]
[Reentrant]
public sealed class SiloEngineGrain(InferenceEngine engine, ILocalSiloDetails localSilo, LocalConversations conversations, SiloDrain drain,
    Serving.ServingMetrics serving, TimeProvider time, ILogger<SiloEngineGrain> logger)
    : Grain, ISiloEngineGrain
{
    // Transfers in flight are staged in memory: at most a quarter of the KV budget at a time.
    private readonly KvImportStaging _imports = new(Math.Max(1, engine.Pool.BudgetBytes / 4), time);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        if (!string.Equals(key, localSilo.SiloAddress.ToParsableString(), StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"engine grain '{key}' activated on silo {localSilo.SiloAddress}");
        }

        return base.OnActivateAsync(cancellationToken);
    }

    public Task<BatcherStats> GetStats() => Task.FromResult(Stats());

    public Task<ServingStats> GetServingStats() => Task.FromResult(serving.Snapshot(Stats(), drain.IsDraining, engine.GetRestoreTierStats()));

    private BatcherStats Stats()
    {
        var stats = engine.GetStats();
        return new BatcherStats
        {
            Silo = localSilo.SiloAddress.ToString(),
            Waiting = stats.Waiting,
            Running = stats.Running,
            MaxBatchSize = engine.Options.MaxBatchSize,
            KvUsedBytes = stats.Kv.UsedBytes,
            KvReservedBytes = stats.Kv.ReservedBytes,
            KvBudgetBytes = stats.Kv.BudgetBytes,
            Sequences = stats.Kv.Sequences,
            Evictions = stats.Kv.Evictions,
            Steps = stats.Steps,
            Model = engine.Manifest.Name,
            ContextLength = engine.Manifest.ContextLength,
            Conversations = conversations.Count,
        };
    }

    public Task<PlacementProbe> Probe(string sequenceId)
    {
        var kv = engine.Pool.Snapshot();
        var held = engine.Pool.TryGet(sequenceId, out var handle) && handle is not null ? handle.CachedTokenCount : 0;
        var stats = engine.GetStats();
        return Task.FromResult(new PlacementProbe
        {
            Waiting = stats.Waiting,
            KvFreeBytes = kv.FreeBytes,
            KvBudgetBytes = kv.BudgetBytes,
            Sequences = kv.Sequences,
            Running = stats.Running,
            HeldTokens = held,
            Conversations = conversations.Count,
            Draining = drain.IsDraining,
        });
    }

    public Task<bool> ImportKv(KvTransferPart part)
    {
        ArgumentNullException.ThrowIfNull(part);
        if (drain.IsDraining)
        {
            return Task.FromResult(false);
        }

        try
        {
            if (_imports.Take(part, KvMover.GeometryOf(engine)) is not { } whole)
            {
                return Task.FromResult(true);
            }

            var imported = engine.TryImportKv(whole.SequenceId, new KvSnapshot(engine.KvDescriptor, whole.Tokens, whole.Data));
            if (imported)
            {
                ConversationMetrics.KvImported.Add(1);
            }

            return Task.FromResult(imported);
        }
        catch (InvalidOperationException ex)
        {
            logger.LogInformation("KV transfer for {Sequence} refused: {Reason}", part.SequenceId, ex.Message);
            return Task.FromResult(false);
        }
    }

    public Task ReleaseKv(string sequenceId)
    {
        if (engine.Pool.TryGet(sequenceId, out var handle) && handle is not null)
        {
            handle.Dispose();
        }

        return Task.CompletedTask;
    }
}
