using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Moves;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Leaving a draining silo with the KV: the conversation's KV goes to another silo's pool first (<see cref="KvMover"/>),
/// then the activation migrates, and placement finds the KV there. Once per activation; what cannot move in time is
/// recomputed on the next turn, and counted.
/// </summary>
public sealed partial class ConversationGrain
{
    private Task MoveAndLeaveAsync() => _moving ??= MoveThenMigrateAsync(alwaysLeave: true);

    public async Task<bool> Rebalance()
    {
        if (!_gate.IsIdle || _leaving || _moving is not null || _drain.IsDraining || !_log.Exists)
        {
            return false;
        }

        var moving = MoveThenMigrateAsync(alwaysLeave: false);
        _moving = moving;
        return await moving;
    }

    /// <summary>Moves the KV; then migrates (after a drain's move always, after a rebalance only when the KV moved).</summary>
    private async Task<bool> MoveThenMigrateAsync(bool alwaysLeave)
    {
        var moved = false;
        try
        {
            if (_log.Exists && _options.MoveDeadline <= TimeSpan.Zero)
            {
                ConversationMetrics.KvMoveFallbacks.Add(1, new KeyValuePair<string, object?>("reason", "moves_off"));
            }
            else if (_log.Exists)
            {
                using var deadline = new CancellationTokenSource(_options.MoveDeadline);
                var result = await _mover.MoveAsync(Id, deadline.Token);
                Count(result);
                if (result.Outcome == KvMoveOutcome.Moved)
                {
                    // The copy on the target is the conversation's KV now: free this silo's.
                    ReleaseLocalKv();
                    moved = true;
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            ConversationMetrics.KvMoveFallbacks.Add(1, new KeyValuePair<string, object?>("reason", ex is OperationCanceledException ? "deadline" : "error"));
            _logger.LogWarning(ex, "Conversation {Conversation}: its KV did not move; the next turn recomputes it", Id);
        }
        finally
        {
            if (alwaysLeave || moved)
            {
                LeaveSilo();
            }
            else
            {
                // A rebalance that moved nothing: the conversation stays, ready for the next round.
                _moving = null;
            }
        }

        return moved;
    }

    private void Count(KvMoveResult result)
    {
        switch (result.Outcome)
        {
            case KvMoveOutcome.Moved:
                ConversationMetrics.KvMoves.Add(1);
                ConversationMetrics.KvBytesMoved.Add(result.Bytes);
                ConversationMetrics.RecomputeAvoided.Add(result.Tokens);
                _logger.LogInformation("Conversation {Conversation} moved {Tokens} tokens of KV ({Bytes} bytes) to {Silo}", Id, result.Tokens,
                    result.Bytes, result.Target);
                break;
            case KvMoveOutcome.NoTarget or KvMoveOutcome.Refused or KvMoveOutcome.NothingHeld:
                ConversationMetrics.KvMoveFallbacks.Add(1, new KeyValuePair<string, object?>("reason", result.Outcome switch
                {
                    KvMoveOutcome.NoTarget => "no_target",
                    KvMoveOutcome.Refused => "refused",
                    _ => "not_held",
                }));
                break;
        }
    }
}
