using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Engine;
using AutoGlm.Orleans.Grains.Turns;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Grains;

/// <summary>The turn path of <see cref="ConversationGrain"/>: start or join a run, produce it, commit it.</summary>
public sealed partial class ConversationGrain
{
    private static readonly TimeSpan LeaseCheckPeriod = TimeSpan.FromMilliseconds(500);

    /// <summary>A replay of a stored reply, or a reader of the run serving <paramref name="request"/> (a new one, or the retried one).</summary>
    private async Task<(ConversationReply? Replay, TurnReader? Reader)> StartOrAttachAsync(TurnRequest request, CancellationToken cancellationToken)
    {
        var fingerprint = TurnPlanner.Fingerprint(request);
        // Asked before the checks below: nothing awaits between them and the turn's start.
        var fork = await ForkSeedAsync(request, cancellationToken);
        while (true)
        {
            var log = await LogAsync(cancellationToken);
            if (_gate.Turn is { } running && running.RequestId == request.RequestId)
            {
                if (running.Fingerprint != fingerprint)
                {
                    throw new IdempotencyKeyReusedException(
                        $"request id '{request.RequestId}' is running in conversation '{Name}' for another message; use a new id for a new request");
                }

                if (!running.IsEnding)
                {
                    ConversationMetrics.Attached.Add(1);
                    return (null, running.Attach());
                }

                // It is stopping: once it ended, it either stored its reply (replayed below) or nothing (run again).
                await running.Ended.WaitAsync(cancellationToken);
                continue;
            }

            if (IsApplied(log, request.RequestId, ConversationLog.SendOperation, fingerprint)
                && log.Applied.TryGet(request.RequestId, out var applied))
            {
                return (log.Replay(request.RequestId, applied), null);
            }

            _gate.ThrowIfBusy(Name, "send");
            if (_drain.IsDraining || _leaving || _moving is not null)
            {
                // A turn that arrives while the KV moves waits for the move, so its retry finds the KV where it went (or
                // here again, when a rebalance moved nothing).
                await (_drain.IsDraining || _leaving ? MoveAndLeaveAsync() : _moving!).WaitAsync(cancellationToken);
                throw new ConversationMovedException($"silo {SiloName} is shutting down: conversation '{Name}' moves to another silo; retry at once");
            }

            var plan = TurnPlanner.Plan(log, request, Id, _prompts, _time.GetUtcNow(), log.Exists ? null : fork);
            var run = new TurnRun(request.RequestId, fingerprint, _time, _options.ChunkWindow);
            _gate.BeginTurn(Name, run);
            var reader = run.Attach();
            _drain.TurnStarted(run);
            _ = ProduceAsync(run, plan, CacheScope());
            _ = WatchLeaseAsync(run);
            return (null, reader);
        }
    }

    /// <summary>Streams the reply from this silo's engine into the run, then commits it. Ends the run exactly once.</summary>
    private async Task ProduceAsync(TurnRun run, PlannedTurn plan, string scope)
    {
        var system = plan.Seed?.SystemPrompt?.TokenIds ?? _log.SystemPrompt.TokenIds;
        try
        {
            if (_prefixes.TryShare(scope, system, Id) is > 0 and var shared)
            {
                ConversationMetrics.SharedTokens.Add(shared, new KeyValuePair<string, object?>("source", "system_prompt"));
            }

            // One hop: the engine's thread writes the tokens, this turn reads them and wakes the readers once for
            // everything that arrived meanwhile.
            var tokens = LocalGeneration.Start(_engine, plan.Work, run.Cancellation);
            ReplyChunk? final = null;
            while (final is null && await LocalGeneration.WaitAsync(tokens))
            {
                if (run.PublishDelay() is { } pause)
                {
                    // Tokens come faster than the chunk window: let it fill, so this turn and its readers wake once per
                    // window, not once per token (the engine's thread keeps writing into the channel meanwhile).
                    await Task.Delay(pause, _time);
                }

                while (tokens.TryRead(out var chunk))
                {
                    run.Add(chunk.Text.Span, chunk.TokenId);
                    if (chunk.FinishReason is { } reason)
                    {
                        final = new ReplyChunk { FinishReason = reason.ToWire(), Usage = chunk.Usage?.ToWire() };
                        break;
                    }
                }

                run.Publish();
            }

            if (final is null || final.FinishReason == ReplyFinishReason.Cancelled)
            {
                run.EndCancelled();
                return;
            }

            run.Complete(plan.Ephemeral ? Unstored(run, plan, final) : await CommitTurnAsync(run, plan, final));
            _prefixes.Remember(scope, system, Id);
        }
        catch (OperationCanceledException) when (run.Cancellation.IsCancellationRequested)
        {
            run.EndCancelled();
        }
        catch (Exception ex)
        {
            if (ex is not ConversationException)
            {
                _logger.LogWarning(ex, "Turn {RequestId} of conversation {Conversation} failed", run.RequestId, Id);
            }

            run.Fail(ex);
        }
        finally
        {
            _gate.EndTurn(run);
            _ = UntrackWhenDrainedAsync(run);
            if (run.Ended.Result is { IsCompleted: false })
            {
                ConversationMetrics.Abandoned.Add(1);
            }

            if (!_log.Exists)
            {
                // A first turn that stored nothing leaves nothing: no KV handle, no activation.
                ReleaseLocalKv();
                DeactivateOnIdle();
            }
            else if (_leaving)
            {
                _ = MoveAndLeaveAsync();
            }
        }
    }

    /// <summary>
    /// The silo's drain counts a turn until its readers got the last chunk, so a shutdown does not cut a reply that
    /// is stored but not yet delivered; a reader that never asks for it (its caller died) is given up after the lease.
    /// </summary>
    private async Task UntrackWhenDrainedAsync(TurnRun run)
    {
        await Task.WhenAny(run.Drained, Task.Delay(_options.TurnLease, _time));
        _drain.TurnEnded(run);
    }

    /// <summary>Cancels the run once every reader stopped pulling for the lease: their callers are gone.</summary>
    private async Task WatchLeaseAsync(TurnRun run)
    {
        while (!run.Ended.IsCompleted)
        {
            await Task.WhenAny(run.Ended, Task.Delay(LeaseCheckPeriod, _time));
            if (!run.Ended.IsCompleted && !run.IsEnding && run.IsOrphaned(_options.TurnLease))
            {
                _logger.LogInformation("Turn {RequestId} of conversation {Conversation}: no reader for {Lease}; cancelled", run.RequestId, Id,
                    _options.TurnLease);
                run.Cancel();
            }
        }
    }

    /// <summary>A store: false turn's reply: what was generated, nothing committed (its KV past the history is overwritten next turn).</summary>
    private ConversationReply Unstored(TurnRun run, PlannedTurn plan, ReplyChunk final) => new()
    {
        RequestId = plan.RequestId, Text = run.ReplyText, TokenIds = [.. run.ReplyTokenIds], FinishReason = final.FinishReason!.Value,
        Usage = (final.Usage ?? new TurnUsage()) with { TruncatedTokens = plan.TruncatedTokens }, Silo = SiloName,
    };

    private async Task<ConversationReply> CommitTurnAsync(TurnRun run, PlannedTurn plan, ReplyChunk final)
    {
        var now = _time.GetUtcNow();
        var engineUsage = final.Usage ?? new TurnUsage();
        var recomputed = Math.Max(0, Math.Min(_log.Header.HistoryKvTokens, plan.HistoryTokens) - engineUsage.CachedTokens);
        var usage = engineUsage with { RecomputedTokens = recomputed, TruncatedTokens = plan.TruncatedTokens };
        var reason = final.FinishReason!.Value;
        var text = run.ReplyText;
        var (user, reply, replyStart, replyLength) = TurnPlanner.Messages(plan, _prompts, text, run.ReplyTokenIds, reason, usage, now);
        var held = HeldTokens(plan.Work.PromptTokenIds, reply.TokenIds, plan.GenerationPromptIds.Length);
        var change = _log.PlanTurn(plan.RequestId, plan.Fingerprint, plan.Seed, user, reply, replyStart, replyLength, SiloName, held, now,
            plan.Window, plan.Items);
        if (!await CommitAsync(change))
        {
            // Another activation stored this request id first (the log is reloaded): its reply is the turn's.
            return _log.Applied.TryGet(plan.RequestId, out var applied)
                ? _log.Replay(plan.RequestId, applied)
                : throw new ConversationChangedException($"conversation '{Name}': request '{plan.RequestId}' is neither running nor stored");
        }

        ConversationMetrics.Turns.Add(1);
        ConversationMetrics.CachedTokens.Add(usage.CachedTokens);
        if (plan.Window is not null)
        {
            ConversationMetrics.Truncations.Add(1);
        }

        if (recomputed > 0)
        {
            ConversationMetrics.RecomputedTokens.Add(recomputed);
            _logger.LogInformation("Conversation {Conversation} recomputed {Tokens} history tokens on {Silo}", Id, recomputed, SiloName);
        }

        return new ConversationReply
        {
            RequestId = plan.RequestId, Text = text, TokenIds = [.. run.ReplyTokenIds], FinishReason = reason, Usage = usage, Silo = SiloName,
        };
    }

    /// <summary>
    /// How many leading tokens of the new history (the prompt, then the reply after its generation prompt) the
    /// engine's KV for this conversation covers: what the next turn should reuse.
    /// </summary>
    private int HeldTokens(IReadOnlyList<int> prompt, IReadOnlyList<int> replyIds, int generationPromptLength)
    {
        if (!_engine.Pool.TryGet(Id, out var handle) || handle is null || handle.IsActive)
        {
            return 0;
        }

        var cached = handle.Tokens;
        var i = 0;
        for (; i < prompt.Count; i++)
        {
            if (i >= cached.Count || cached[i] != prompt[i])
            {
                return i;
            }
        }

        for (var j = generationPromptLength; j < replyIds.Count && i < cached.Count && cached[i] == replyIds[j]; j++)
        {
            i++;
        }

        return i;
    }

    private void ReleaseLocalKv()
    {
        if (_engine.Pool.TryGet(Id, out var handle) && handle is not null)
        {
            handle.Dispose();
        }
    }

    /// <summary>A deleted conversation's KV may sit parked on any silo it lived on: release it on every one.</summary>
    private async Task ReleaseKvEverywhereAsync()
    {
        ReleaseLocalKv();
        var silos = _membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(_localSilo.SiloAddress))
            .Select(m => m.SiloAddress)
            .ToArray();
        var releases = silos.Select(async silo =>
        {
            try
            {
                await SiloEngineGrainKeys.ForSilo(GrainFactory, silo).ReleaseKv(Id).WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception ex)
            {
                // Not fatal: an unreleased copy is evictable and expires with the idle TTL.
                _logger.LogWarning(ex, "Could not release the KV of deleted conversation {Conversation} on {Silo}", Id, silo);
            }
        });
        await Task.WhenAll(releases);
    }
}
