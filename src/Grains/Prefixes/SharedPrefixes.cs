using System.Security.Cryptography;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Grains.Prefixes;

/// <summary>
/// System-prompt prefixes computed once per cache scope (a tenant, and its cache salt) and shared on this silo: a
/// conversation's first turn copies the KV of its system prompt from the scope's prefix (a copy is cheaper than a
/// prefill) and computes only the rest; the first conversation of a scope that computed it leaves a copy for the
/// next. Never across scopes: another tenant's identical prompt has another prefix, so the time to first token
/// tells nothing about what other tenants sent. Bounded: at most <see cref="MaxPrefixes"/>, least recently used
/// released first, and the pool may evict them like any idle KV. Thread-safe.
/// </summary>
public sealed class SharedPrefixes(InferenceEngine engine)
{
    /// <summary>A prompt shorter than this costs less to compute than to look up and copy.</summary>
    public const int MinTokens = 32;

    public const int MaxPrefixes = 256;

    private readonly object _lock = new();
    private readonly LinkedList<string> _recent = new();
    private readonly Dictionary<string, LinkedListNode<string>> _known = new(StringComparer.Ordinal);

    /// <summary>
    /// Gives <paramref name="sequenceId"/> (a conversation that holds no KV yet) the KV of <paramref name="system"/>
    /// from its scope's prefix; returns the tokens copied (0: no such prefix here, or the sequence has KV already).
    /// </summary>
    public int TryShare(string scope, IReadOnlyList<int> system, string sequenceId)
    {
        if (system.Count < MinTokens || engine.Pool.TryGet(sequenceId, out _))
        {
            return 0;
        }

        var id = PrefixId(scope, system);
        if (!engine.Pool.TryGet(id, out var prefix) || prefix is null || !StartsWith(prefix.Tokens, system)
            || !engine.TryCopyKvPrefix(id, sequenceId, system.Count))
        {
            return 0;
        }

        Touch(id);
        return system.Count;
    }

    /// <summary>After a turn: keeps a copy of <paramref name="system"/>'s KV from <paramref name="sequenceId"/> when the scope has none here.</summary>
    public void Remember(string scope, IReadOnlyList<int> system, string sequenceId)
    {
        if (system.Count < MinTokens)
        {
            return;
        }

        var id = PrefixId(scope, system);
        if (engine.Pool.TryGet(id, out _))
        {
            Touch(id);
            return;
        }

        // Only KV that really is this prompt's becomes the scope's prefix.
        if (!engine.Pool.TryGet(sequenceId, out var source) || source is null || source.IsActive || !StartsWith(source.Tokens, system)
            || !engine.TryCopyKvPrefix(sequenceId, id, system.Count))
        {
            return;
        }

        string? dropped = null;
        lock (_lock)
        {
            Add(id);
            if (_recent.Count > MaxPrefixes)
            {
                dropped = _recent.First!.Value;
                _recent.RemoveFirst();
                _known.Remove(dropped);
            }
        }

        if (dropped is not null && engine.Pool.TryGet(dropped, out var old) && old is not null)
        {
            old.Dispose();
        }
    }

    /// <summary>Not a grain key (those are "tenant/id"): a conversation can never name a prefix's sequence.</summary>
    private static string PrefixId(string scope, IReadOnlyList<int> system)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(scope));
        hash.AppendData([0]);
        Span<byte> bytes = stackalloc byte[4];
        foreach (var id in system)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes, id);
            hash.AppendData(bytes);
        }

        return "prefix:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static bool StartsWith(IReadOnlyList<int> tokens, IReadOnlyList<int> prefix)
    {
        if (tokens.Count < prefix.Count)
        {
            return false;
        }

        for (var i = 0; i < prefix.Count; i++)
        {
            if (tokens[i] != prefix[i])
            {
                return false;
            }
        }

        return true;
    }

    private void Touch(string id)
    {
        lock (_lock)
        {
            if (_known.Remove(id, out var node))
            {
                _recent.Remove(node);
            }

            Add(id);
        }
    }

    private void Add(string id) => _known[id] = _recent.AddLast(id);
}
