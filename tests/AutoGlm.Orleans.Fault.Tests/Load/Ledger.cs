using System.Collections.Concurrent;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>Every turn every lane began, and every conversation it used. Read in full only after the load stopped.</summary>
public sealed class Ledger
{
    private readonly ConcurrentQueue<TurnRecord> _turns = new();
    private readonly ConcurrentDictionary<string, int> _conversations = new(StringComparer.Ordinal);

    public IReadOnlyList<TurnRecord> Turns => [.. _turns];

    /// <summary>Conversation id → the lane that used it.</summary>
    public IReadOnlyDictionary<string, int> Conversations => _conversations;

    public void Add(TurnRecord turn)
    {
        ArgumentNullException.ThrowIfNull(turn);
        _conversations.TryAdd(turn.ConversationId, turn.Lane);
        _turns.Enqueue(turn);
    }
}
