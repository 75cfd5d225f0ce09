namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>
/// Index entries in this process (one silo without Redis): they expire like the conversations and are capped like
/// them (the oldest entry goes first).
/// </summary>
public sealed class MemoryConversationIndexStore(ConversationOptions options, TimeProvider time) : IConversationIndexStore
{
    private readonly object _lock = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _order = new();

    public Task<string?> TryClaimAsync(string key, int messageCount, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var node))
            {
                return Task.FromResult<string?>(null);
            }

            var entry = node.Value;
            var expired = entry.ExpiresAt <= time.GetUtcNow();
            if (expired || entry.Count == messageCount)
            {
                Remove(node);
            }

            return Task.FromResult(!expired && entry.Count == messageCount ? entry.ConversationId : null);
        }
    }

    public Task PutAsync(string key, string conversationId, int messageCount, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                Remove(existing);
            }

            var expires = options.IdleTtl > TimeSpan.Zero ? time.GetUtcNow() + options.IdleTtl : DateTimeOffset.MaxValue;
            _entries[key] = _order.AddLast(new Entry(key, conversationId, messageCount, expires));
            while (_entries.Count > options.MaxInMemoryConversations && _order.First is { } oldest)
            {
                Remove(oldest);
            }
        }

        return Task.CompletedTask;
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _entries.Remove(node.Value.Key);
        _order.Remove(node);
    }

    private sealed record Entry(string Key, string ConversationId, int Count, DateTimeOffset ExpiresAt);
}
