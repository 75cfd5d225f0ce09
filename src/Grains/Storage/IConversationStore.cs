using AutoGlm.Orleans.Grains.Conversations;

namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>
/// Where conversations are kept: a small header, the messages as appended records, and the bounded idempotency
/// record. A commit appends one change if the stored version is still the one it was planned on, in one atomic
/// step, so the bytes written per change do not grow with the conversation. Every backend failure surfaces as
/// <see cref="Abstractions.StorageUnavailableException"/>.
/// </summary>
public interface IConversationStore
{
    /// <summary>The stored conversation; null when there is none (never created, deleted or expired).</summary>
    Task<StoredConversation?> LoadAsync(string conversationId, CancellationToken cancellationToken);

    /// <summary>
    /// Appends <paramref name="change"/> when the stored incarnation and version are the ones it was planned on and
    /// its request id is not applied yet. Not cancellable: once sent, a commit's outcome is settled by reloading.
    /// </summary>
    Task<CommitResult> CommitAsync(string conversationId, ConversationChange change);

    /// <summary>Removes everything stored for the conversation; false when nothing was.</summary>
    Task<bool> DeleteAsync(string conversationId, CancellationToken cancellationToken);
}

public enum CommitOutcome
{
    Committed = 0,
    /// <summary>The stored version or incarnation is not the planned one: another writer, a delete, or an expiry.</summary>
    Conflict = 1,
    /// <summary>The request id is applied already (the stored state is newer than the activation's).</summary>
    AlreadyApplied = 2,
}

/// <param name="BytesWritten">Payload bytes sent to the store for the change (the per-turn write cost).</param>
public readonly record struct CommitResult(CommitOutcome Outcome, long BytesWritten);
