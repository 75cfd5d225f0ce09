namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// A serving system under test, seen as a user sees it: send the next message of a conversation, read the reply
/// as it streams. The system owns the conversation's history (the cluster keeps it in a grain; a stateless
/// service is sent it again every turn). Timing is done by <see cref="MultiTurnDriver"/> around this call, the
/// same way for every system; an adapter only has to stream one chunk per arriving token (or group of tokens).
/// </summary>
public interface IChatSystem : IAsyncDisposable
{
    /// <summary>
    /// Sends <paramref name="turn"/> of <paramref name="conversationId"/> and streams a reply of exactly
    /// <see cref="ChatTurn.ReplyTokens"/> tokens (no stop token ends it early); the last chunk carries the usage.
    /// </summary>
    IAsyncEnumerable<TurnChunk> SendAsync(string conversationId, ChatTurn turn, CancellationToken cancellationToken);
}
