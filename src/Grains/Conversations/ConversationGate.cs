using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Turns;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// One change at a time per conversation. Orleans runs a streaming call's steps interleaved with the grain's
/// other calls, so the grain's turn-based concurrency alone does not keep a Delete out of a running turn: every
/// change passes this gate, and one that finds it taken fails with <see cref="ConversationBusyException"/>.
/// Single-threaded (the grain's scheduler).
/// </summary>
public sealed class ConversationGate
{
    private string? _change;

    /// <summary>The turn running now, if any.</summary>
    public TurnRun? Turn { get; private set; }

    public bool IsIdle => Turn is null && _change is null;

    /// <exception cref="ConversationBusyException">A turn or another change is running.</exception>
    public void ThrowIfBusy(string conversationId, string operation)
    {
        if (Turn is { } turn)
        {
            throw new ConversationBusyException(
                $"conversation '{conversationId}' is generating request '{turn.RequestId}': cannot {operation} now (one change at a time)");
        }

        if (_change is { } change)
        {
            throw new ConversationBusyException($"conversation '{conversationId}' is applying a {change}: cannot {operation} now");
        }
    }

    public void BeginTurn(string conversationId, TurnRun turn)
    {
        ThrowIfBusy(conversationId, "send");
        Turn = turn;
    }

    public void EndTurn(TurnRun turn)
    {
        if (ReferenceEquals(Turn, turn))
        {
            Turn = null;
        }
    }

    /// <summary>Holds the gate for a change other than a turn until the returned scope is disposed.</summary>
    public ChangeScope BeginChange(string conversationId, string operation)
    {
        ThrowIfBusy(conversationId, operation);
        _change = operation;
        return new ChangeScope(this);
    }

    public readonly struct ChangeScope(ConversationGate gate) : IDisposable
    {
        public void Dispose() => gate._change = null;
    }
}
