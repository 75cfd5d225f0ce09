using System.Diagnostics;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Drains this silo (SIGTERM, or an operator's POST /admin/drain): no new turns, every conversation leaves with its
/// KV (at most <see cref="ConversationOptions.ParallelMoves"/> moving at once, all within
/// <see cref="ConversationOptions.MoveDeadline"/>), running turns get <see cref="ConversationOptions.ShutdownDeadline"/>,
/// and what still runs then ends with an explicit error. Runs once; a second call waits for the first.
/// </summary>
public sealed class SiloDrainer(SiloDrain drain, LocalConversations conversations, IGrainFactory grains, IOptions<ConversationOptions> options,
    ILogger<SiloDrainer> logger)
{
    private static readonly TimeSpan ErrorFlushTime = TimeSpan.FromMilliseconds(500);

    // A turn leaves the drain's count as its reader detaches, a moment before its error reaches the caller's silo.
    private static readonly TimeSpan ResponseFlushTime = TimeSpan.FromSeconds(1);

    private readonly object _lock = new();
    private Task? _draining;

    public Task DrainAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _draining ??= RunAsync(cancellationToken);
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        drain.Begin();
        var ids = conversations.Snapshot();
        logger.LogInformation("Draining: {Conversations} conversations leave with their KV, {Running} turns running", ids.Count, drain.Running);
        // One deadline for every move together: a conversation still queued or moving when it passes recomputes.
        using (var moves = new SemaphoreSlim(options.Value.ParallelMoves))
        using (var phase = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            phase.CancelAfter(options.Value.MoveDeadline + TimeSpan.FromSeconds(2));
            await Task.WhenAll(ids.Select(id => LeaveAsync(id, moves, phase.Token)));
        }

        var deadline = options.Value.ShutdownDeadline;
        if (!await drain.WaitForRunningAsync(deadline, cancellationToken))
        {
            logger.LogWarning("Draining: {Running} turns did not finish within {Deadline}; they end with an error", drain.Running, deadline);
            drain.InterruptAll(new TurnInterruptedException("the silo serving this turn is shutting down; nothing was stored, retry with the same Idempotency-Key"));
            await drain.WaitForRunningAsync(ErrorFlushTime, cancellationToken);
            await Task.Delay(ResponseFlushTime, cancellationToken);
        }

        ConversationMetrics.DrainSeconds.Record(watch.Elapsed.TotalSeconds);
        logger.LogInformation("Drained in {Seconds:F2} s", watch.Elapsed.TotalSeconds);
    }

    private async Task LeaveAsync(string conversationId, SemaphoreSlim moves, CancellationToken phase)
    {
        var entered = false;
        try
        {
            await moves.WaitAsync(phase);
            entered = true;
            // Leave returns once the KV moved (or could not) and the activation is migrating.
            await grains.GetGrain<IConversationGrain>(conversationId).Leave().WaitAsync(phase);
        }
        catch (OperationCanceledException) when (phase.IsCancellationRequested)
        {
            if (!entered)
            {
                // Never asked: it leaves without its KV (the silo's shutdown moves it), and its next turn recomputes.
                ConversationMetrics.KvMoveFallbacks.Add(1, new KeyValuePair<string, object?>("reason", "deadline"));
                _ = grains.GetGrain<IConversationGrain>(conversationId).Leave();
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.LogDebug(ex, "Conversation {Conversation} did not answer the drain", conversationId);
        }
        finally
        {
            if (entered)
            {
                moves.Release();
            }
        }
    }
}
