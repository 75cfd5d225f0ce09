using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;

namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>
/// Conversations in this process (one silo without Redis): the same checks and idle expiry as
/// <see cref="RedisConversationStore"/>, lost with the process. Bounded: past the cap the least recently changed
/// conversation is dropped.
/// </summary>
public sealed class MemoryConversationStore(ConversationOptions options, TimeProvider time) : IConversationStore
{
    private readonly object _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _recency = new();

    public Task<StoredConversation?> LoadAsync(string conversationId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(Live(conversationId)?.Snapshot());
        }
    }

    public Task<CommitResult> CommitAsync(string conversationId, ConversationChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (_lock)
        {
            var entry = Live(conversationId);
            var expected = change.ExpectedVersion == 0
                ? entry is null
                : entry is not null && entry.Incarnation == change.ExpectedIncarnation && entry.Version == change.ExpectedVersion;
            if (!expected)
            {
                var applied = entry is not null && entry.Applied.ContainsKey(change.RequestId);
                return Task.FromResult(new CommitResult(applied ? CommitOutcome.AlreadyApplied : CommitOutcome.Conflict, 0));
            }

            if (entry is not null && entry.Applied.ContainsKey(change.RequestId))
            {
                return Task.FromResult(new CommitResult(CommitOutcome.AlreadyApplied, 0));
            }

            if (entry is null)
            {
                entry = _entries[conversationId] = new Entry(conversationId);
            }
            entry.Incarnation = change.Incarnation;
            entry.Version = change.Version;
            entry.Header = change.Header;
            entry.SystemPrompt = change.SystemPrompt ?? entry.SystemPrompt;
            entry.DefaultOptions = change.DefaultOptionsChanged ? change.DefaultOptions : entry.DefaultOptions;
            entry.Annotations = change.Annotations ?? entry.Annotations;
            if (change.ClearMessages)
            {
                entry.Messages.Clear();
            }

            entry.Messages.AddRange(change.Appended);
            entry.Applied[change.RequestId] = change.Applied;
            entry.Order.Enqueue(change.RequestId);
            while (entry.Order.Count > options.MaxRequestIds)
            {
                entry.Applied.Remove(entry.Order.Dequeue());
            }

            entry.ExpiresAt = options.IdleTtl > TimeSpan.Zero ? time.GetUtcNow() + options.IdleTtl : DateTimeOffset.MaxValue;
            Touch(entry);
            Trim();
            return Task.FromResult(new CommitResult(CommitOutcome.Committed, 0));
        }
    }

    public Task<bool> DeleteAsync(string conversationId, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var entry = Live(conversationId);
            if (entry is not null)
            {
                Remove(entry);
            }

            return Task.FromResult(entry is not null);
        }
    }

    private Entry? Live(string conversationId)
    {
        if (!_entries.TryGetValue(conversationId, out var entry))
        {
            return null;
        }

        if (entry.ExpiresAt > time.GetUtcNow())
        {
            return entry;
        }

        Remove(entry);
        return null;
    }

    private void Touch(Entry entry)
    {
        if (entry.Node.List is not null)
        {
            _recency.Remove(entry.Node);
        }

        _recency.AddLast(entry.Node);
    }

    private void Remove(Entry entry)
    {
        _entries.Remove(entry.Id);
        if (entry.Node.List is not null)
        {
            _recency.Remove(entry.Node);
        }
    }

    private void Trim()
    {
        while (_entries.Count > options.MaxInMemoryConversations && _recency.First is { } oldest)
        {
            Remove(oldest.Value);
        }
    }

    private sealed class Entry
    {
        public Entry(string id)
        {
            Id = id;
            Node = new LinkedListNode<Entry>(this);
        }

        public string Id { get; }
        public LinkedListNode<Entry> Node { get; }
        public string Incarnation { get; set; } = string.Empty;
        public long Version { get; set; }
        public ConversationHeader Header { get; set; } = new();
        public SystemPromptRecord SystemPrompt { get; set; } = SystemPromptRecord.None;
        public GenerationOptions? DefaultOptions { get; set; }
        public ConversationAnnotations Annotations { get; set; } = ConversationAnnotations.None;
        public List<ConversationMessage> Messages { get; } = [];
        public Dictionary<string, AppliedChange> Applied { get; } = new(StringComparer.Ordinal);
        public Queue<string> Order { get; } = new();
        public DateTimeOffset ExpiresAt { get; set; }

        public StoredConversation Snapshot() =>
            new(Incarnation, Version, Header, SystemPrompt, DefaultOptions, [.. Messages], [.. Applied]) { Annotations = Annotations };
    }
}
