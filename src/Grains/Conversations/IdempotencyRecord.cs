namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// The last <see cref="Capacity"/> applied request ids, oldest evicted first (the store evicts the same ones:
/// lowest version first). Bounded, so a long conversation's record does not grow.
/// </summary>
public sealed class IdempotencyRecord
{
    private readonly Dictionary<string, AppliedChange> _byKey = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public IdempotencyRecord(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int Count => _byKey.Count;

    public bool TryGet(string requestId, out AppliedChange applied) => _byKey.TryGetValue(requestId, out applied!);

    public void Add(string requestId, AppliedChange applied)
    {
        if (_byKey.TryAdd(requestId, applied))
        {
            _order.Enqueue(requestId);
        }

        while (_order.Count > Capacity)
        {
            _byKey.Remove(_order.Dequeue());
        }
    }

    public static IdempotencyRecord From(IEnumerable<KeyValuePair<string, AppliedChange>> applied, int capacity)
    {
        var record = new IdempotencyRecord(capacity);
        foreach (var (key, value) in applied.OrderBy(a => a.Value.Version))
        {
            record.Add(key, value);
        }

        return record;
    }
}
