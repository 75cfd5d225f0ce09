using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// What the OpenAI-shaped APIs add to <see cref="ConversationGrain"/>: items appended without a turn, metadata,
/// deleted responses, and forks (the history through a turn, and its KV copied on this silo).
/// </summary>
public sealed partial class ConversationGrain
{
    public Task AppendMessages(string requestId, IReadOnlyList<ConversationMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var fingerprint = RequestFingerprint.Of(ConversationLog.AppendOperation, string.Join('\u0001', messages.Select(m => $"{m.Role}:{m.Content}")));
        return ChangeAsync(requestId, ConversationLog.AppendOperation, fingerprint, l =>
        {
            if (messages.Count == 0)
            {
                throw new InvalidConversationRequestException("there are no items to add");
            }

            var now = _time.GetUtcNow();
            if (l.Messages.Count == 0 && l.SystemPrompt.Text is null)
            {
                var seed = HistoryImport.Build(_prompts, messages, l.SystemPrompt, requestId, now, reserve: 1);
                return l.PlanAppend(requestId, fingerprint, seed.SystemPrompt, seed.Messages, now);
            }

            // A conversation that truncates may grow past the window: only the system prompt must stay in view.
            var truncates = l.DefaultOptions?.Truncation == TruncationMode.Auto;
            var appended = HistoryImport.After(_prompts, messages, l, truncates, requestId, now);
            return l.PlanAppend(requestId, fingerprint, null, appended, now);
        });
    }

    public Task SetMetadata(string requestId, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var copy = new SortedDictionary<string, string>(metadata.ToDictionary(), StringComparer.Ordinal);
        var fingerprint = RequestFingerprint.Of(ConversationLog.MetadataOperation, string.Join('\u0001', copy.Select(p => $"{p.Key}={p.Value}")));
        return ChangeAsync(requestId, ConversationLog.MetadataOperation, fingerprint, l =>
        {
            ValidateMetadata(copy);
            return l.PlanMetadata(requestId, fingerprint, new Dictionary<string, string>(copy, StringComparer.Ordinal), _time.GetUtcNow());
        });
    }

    public Task DeleteResponse(string requestId, string turnRequestId)
    {
        ArgumentException.ThrowIfNullOrEmpty(turnRequestId);
        var fingerprint = RequestFingerprint.Of(ConversationLog.DeleteResponseOperation, turnRequestId);
        return ChangeAsync(requestId, ConversationLog.DeleteResponseOperation, fingerprint, l => l.FindResponse(turnRequestId) < 0
            ? throw new ConversationNotFoundException($"conversation '{Name}' has no response of request '{turnRequestId}'")
            : l.PlanDeleteResponse(requestId, fingerprint, turnRequestId, _time.GetUtcNow()));
    }

    public async Task<StoredTurn?> GetTurn(string turnRequestId)
    {
        var log = await LogAsync(CancellationToken.None);
        LeaveIfNothingStored();
        var reply = log.FindResponse(turnRequestId);
        if (reply < 0)
        {
            return null;
        }

        var first = log.TurnStart(reply);
        var previous = first - 1;
        while (previous >= 0 && log.Messages[previous].Role != MessageRole.Assistant)
        {
            previous--;
        }

        return new StoredTurn
        {
            Input = log.Messages.Skip(first).Take(reply - first).ToArray(),
            Reply = log.Messages[reply],
            PreviousRequestId = previous >= 0 ? log.Messages[previous].RequestId : null,
            IsLatest = reply == log.Messages.Count - 1,
            SystemPrompt = log.SystemPrompt.Text,
        };
    }

    public async Task<ConversationPrefix?> GetForkPrefix(string turnRequestId)
    {
        var log = await LogAsync(CancellationToken.None);
        LeaveIfNothingStored();
        return ForkPlanner.Prefix(log, turnRequestId);
    }

    public async Task<int> ShareKv(string forkKey, string turnRequestId)
    {
        ArgumentException.ThrowIfNullOrEmpty(forkKey);
        if (!string.Equals(ConversationKeys.TenantOf(forkKey), ConversationKeys.TenantOf(Id), StringComparison.Ordinal))
        {
            throw new AccessDeniedException("a conversation's KV is shared with its own tenant's forks only");
        }

        var log = await LogAsync(CancellationToken.None);
        // A turn of this conversation in flight may be about to hand the engine this very handle.
        if (!_gate.IsIdle || ForkPlanner.Prefix(log, turnRequestId) is not { } prefix || !_engine.Pool.TryGet(Id, out var handle) || handle is null || handle.IsActive)
        {
            return 0;
        }

        var shareable = ForkPlanner.Shareable(prefix, handle.Tokens);
        if (shareable == 0 || !_engine.TryCopyKvPrefix(Id, forkKey, shareable))
        {
            return 0;
        }

        ConversationMetrics.SharedTokens.Add(shareable);
        return shareable;
    }

    /// <summary>A fork's seed, from its parent (a grain of the same tenant, asked while it keeps serving its own turns).</summary>
    private async Task<TurnSeed?> ForkSeedAsync(TurnRequest request, CancellationToken cancellationToken)
    {
        if (request.ForkOf is not { } source || (await LogAsync(cancellationToken)).Exists)
        {
            return null;
        }

        if (!string.Equals(ConversationKeys.TenantOf(source.ParentKey), ConversationKeys.TenantOf(Id), StringComparison.Ordinal))
        {
            throw new ConversationNotFoundException("the response this turn continues does not exist");
        }

        var prefix = await GrainFactory.GetGrain<IConversationGrain>(source.ParentKey).GetForkPrefix(source.ThroughRequestId).WaitAsync(cancellationToken)
            ?? throw new ConversationNotFoundException("the response this turn continues does not exist (deleted, or never stored)");
        return ForkPlanner.Seed(prefix, _engine.Manifest.VocabSize);
    }

    private static void ValidateMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        if (metadata.Count > ConversationAnnotations.MaxMetadataPairs)
        {
            throw new InvalidConversationRequestException($"metadata holds at most {ConversationAnnotations.MaxMetadataPairs} pairs");
        }

        foreach (var (key, value) in metadata)
        {
            if (key.Length is 0 or > ConversationAnnotations.MaxMetadataKeyLength || (value?.Length ?? 0) > ConversationAnnotations.MaxMetadataValueLength)
            {
                throw new InvalidConversationRequestException(
                    $"metadata keys have 1 to {ConversationAnnotations.MaxMetadataKeyLength} characters and values at most {ConversationAnnotations.MaxMetadataValueLength}");
            }
        }
    }
}
