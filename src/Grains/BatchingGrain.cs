using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Moves;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Placement;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// The Orleans face of this silo's <see cref="InferenceEngine"/>: one per silo (keyed by the silo's address and
/// pinned there), never moved, never collected, reentrant so every conversation's stream runs at once. The
/// engine batches on its own thread; this grain only awaits its channels, so the scheduler never blocks.
/// </summary>
[SiloPinnedPlacement]
[Immovable]
[KeepAlive]
[Reentrant]
public sealed class BatchingGrain(InferenceEngine engine, ILocalSiloDetails localSilo, LocalConversations conversations, SiloDrain drain,
    Serving.ServingMetrics serving, TimeProvider time, ILogger<BatchingGrain> logger)
    : Grain, IBatchingGrain
{
    // Transfers in flight are staged in memory: at most a quarter of the KV budget at a time.
    private readonly KvImportStaging _imports = new(Math.Max(1, engine.Pool.BudgetBytes / 4), time);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        if (!string.Equals(key, localSilo.SiloAddress.ToParsableString(), StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"batching grain '{key}' activated on silo {localSilo.SiloAddress}");
        }

        return base.OnActivateAsync(cancellationToken);
    }

    public async IAsyncEnumerable<ReplyChunk> Generate(BatchWork work, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reader = Submit(work, cancel.Token);
        try
        {
            while (await WaitToReadAsync(reader))
            {
                // Hand over every chunk already produced in one element: fewer round trips under load.
                List<int>? ids = null;
                var text = new System.Text.StringBuilder();
                GenerationChunk? final = null;
                while (final is null && reader.TryRead(out var chunk))
                {
                    if (chunk.TokenId is { } id)
                    {
                        (ids ??= []).Add(id);
                    }

                    text.Append(chunk.Text);
                    if (chunk.IsFinal)
                    {
                        final = chunk;
                    }
                }

                yield return new ReplyChunk
                {
                    Text = text.ToString(),
                    TokenIds = ids,
                    FinishReason = final?.FinishReason?.ToWire(),
                    Usage = final?.Usage?.ToWire(),
                };
                if (final is not null)
                {
                    yield break;
                }
            }
        }
        finally
        {
            // The consumer left early (its caller died or gave up): stop generating; the handle keeps its KV.
            cancel.Cancel();
        }
    }

    /// <summary>
    /// A request the engine refused after queueing it (it waited past the engine's queue limit) ends its stream with
    /// <see cref="EngineOverloadedException"/>: the same contract error as a full queue at submission, so callers
    /// see a retryable overload, not a server fault.
    /// </summary>
    private static async ValueTask<bool> WaitToReadAsync(ChannelReader<GenerationChunk> reader)
    {
        try
        {
            return await reader.WaitToReadAsync(CancellationToken.None);
        }
        catch (EngineOverloadedException ex)
        {
            throw new ServerOverloadedException(ex.Message);
        }
    }

    private ChannelReader<GenerationChunk> Submit(BatchWork work, CancellationToken cancellationToken)
    {
        var existed = engine.Pool.TryGet(work.SequenceId, out _);
        var handle = engine.GetOrCreateHandle(work.SequenceId);
        var request = new GenerationRequest(handle, work.PromptTokenIds, work.Options.ToSampling(defaultMaxNewTokens: 256))
        {
            StopTokenIds = work.Options.IgnoreEndOfTurn == true ? [] : null,
        };
        try
        {
            return engine.Submit(request, cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidGenerationRequestException or HandleBusyException or EngineOverloadedException)
        {
            if (!existed && handle.CachedTokenCount == 0)
            {
                // A refused first turn leaves no handle behind.
                handle.Dispose();
            }

            throw ex switch
            {
                InvalidGenerationRequestException => new InvalidConversationRequestException(ex.Message),
                HandleBusyException => new ConversationBusyException(ex.Message),
                _ => new ServerOverloadedException(ex.Message),
            };
        }
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
            KvFreeBytes = Math.Max(0, kv.BudgetBytes - kv.UsedBytes - kv.ReservedBytes),
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

    public Task Release(string sequenceId)
    {
        if (engine.Pool.TryGet(sequenceId, out var handle) && handle is not null)
        {
            handle.Dispose();
        }

        return Task.CompletedTask;
    }
}
