using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Turns;

/// <summary>How a turn ended, once: stored (with the reply), failed (with the error every reader gets), or cancelled.</summary>
public sealed record TurnEnd
{
    private TurnEnd()
    {
    }

    /// <summary>The stored reply; null unless the turn completed.</summary>
    public ConversationReply? Reply { get; private init; }

    public Exception? Error { get; private init; }

    /// <summary>Set when the turn was cancelled for a reason its readers must hear (shutdown); null when its caller left.</summary>
    public Exception? CancelReason { get; private init; }

    public bool IsCompleted => Reply is not null;

    public static TurnEnd Completed(ConversationReply reply) => new() { Reply = reply };

    public static TurnEnd Failed(Exception error) => new() { Error = error };

    public static TurnEnd Cancelled(Exception? reason) => new() { CancelReason = reason };
}
