using System.Collections.Concurrent;

namespace AutoGlm.Orleans.Grains;

/// <summary>The conversations active on this silo (a per-silo singleton the placement probe reads).</summary>
public sealed class LocalConversations
{
    private readonly ConcurrentDictionary<string, byte> _active = new(StringComparer.Ordinal);

    public int Count => _active.Count;

    public bool Contains(string conversationId) => _active.ContainsKey(conversationId);

    public void Add(string conversationId) => _active.TryAdd(conversationId, 0);

    public void Remove(string conversationId) => _active.TryRemove(conversationId, out _);

    public IReadOnlyCollection<string> Snapshot() => [.. _active.Keys];
}
