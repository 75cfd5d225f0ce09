using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Storage;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// The state path of <see cref="ConversationGrain"/>: load the log (again, when a write's outcome is unknown or the
/// idle TTL passed), check a request id against the idempotency record, and commit one change.
/// </summary>
public sealed partial class ConversationGrain
{
    /// <summary>The log, loaded first when it is not known to match the store (new activation, or a write whose outcome is unknown).</summary>
    private async ValueTask<ConversationLog> LogAsync(CancellationToken cancellationToken)
    {
        // Past the idle TTL the store has let the conversation go: ask it rather than serve what memory kept.
        if (_log.Exists && _options.IdleTtl > TimeSpan.Zero && _time.GetUtcNow() - _log.Header.UpdatedAt >= _options.IdleTtl)
        {
            _stale = true;
        }

        // A running turn is the only writer: never swap the log under it.
        while (_stale && _gate.Turn is null)
        {
            var loading = _loading ??= ReloadAsync();
            try
            {
                await loading.WaitAsync(cancellationToken);
            }
            finally
            {
                if (ReferenceEquals(_loading, loading) && loading.IsCompleted)
                {
                    _loading = null;
                }
            }
        }

        return _log;
    }

    private async Task ReloadAsync()
    {
        try
        {
            var stored = await _store.LoadAsync(Id, CancellationToken.None);
            _log = stored is null ? ConversationLog.Empty(_options.MaxRequestIds) : ConversationLog.From(stored, _options.MaxRequestIds);
            _stale = false;
        }
        catch (StorageUnavailableException)
        {
            ConversationMetrics.StorageErrors.Add(1);
            throw;
        }
    }

    private async Task ChangeAsync(string requestId, string operation, ulong fingerprint, Func<ConversationLog, ConversationChange> plan)
    {
        ValidateRequestId(requestId);
        var log = await LogAsync(CancellationToken.None);
        if (IsApplied(log, requestId, operation, fingerprint))
        {
            return;
        }

        using (_gate.BeginChange(Name, operation))
        {
            await CommitAsync(plan(log));
        }
    }

    /// <summary>Appends a change; the log takes it only once the store did. Returns false when the store had it already (reloaded).</summary>
    private async Task<bool> CommitAsync(ConversationChange change)
    {
        CommitResult result;
        try
        {
            result = await _store.CommitAsync(Id, change);
        }
        catch (StorageUnavailableException)
        {
            // The write may or may not have landed: settle it by reloading before the next change.
            _stale = true;
            ConversationMetrics.StorageErrors.Add(1);
            throw;
        }

        ConversationMetrics.BytesWritten.Record(result.BytesWritten);
        switch (result.Outcome)
        {
            case CommitOutcome.Committed:
                _log.Apply(change);
                return true;
            case CommitOutcome.AlreadyApplied:
                _stale = true;
                await ReloadAsync();
                return false;
            default:
                ConversationMetrics.StorageErrors.Add(1);
                _stale = true;
                await ReloadAsync();
                throw new ConversationChangedException(
                    $"conversation '{Name}' changed in the store (another writer, a delete or an expiry) while request '{change.RequestId}' ran; it was not stored");
        }
    }

    /// <summary>Whether <paramref name="requestId"/> was applied already; the same key with another request is refused.</summary>
    private bool IsApplied(ConversationLog log, string requestId, string operation, ulong fingerprint)
    {
        if (!log.Applied.TryGet(requestId, out var applied))
        {
            return false;
        }

        if (applied.Operation != operation || applied.Fingerprint != fingerprint)
        {
            throw new IdempotencyKeyReusedException(
                $"request id '{requestId}' was applied to conversation '{Name}' for another request ({applied.Operation}); use a new id for a new request");
        }

        ConversationMetrics.Replays.Add(1);
        return true;
    }
}
