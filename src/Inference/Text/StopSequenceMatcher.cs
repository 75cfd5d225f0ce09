namespace AutoGlm.Orleans.Inference.Text;

/// <summary>
/// Watches streamed text for stop strings. Text that could be the start of a stop string is held back until
/// the next delta settles it, so a stop string split across tokens is caught and never partly sent to the client.
/// Not thread-safe: one per request.
/// </summary>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private readonly int _maxHold;
    private char[] _pending;
    private int _pendingLength;

    public StopSequenceMatcher(IEnumerable<string> stopStrings)
    {
        ArgumentNullException.ThrowIfNull(stopStrings);
        _stops = [.. stopStrings.Distinct(StringComparer.Ordinal)];
        foreach (var stop in _stops)
        {
            if (string.IsNullOrEmpty(stop))
            {
                throw new ArgumentException("stop strings must not be null or empty", nameof(stopStrings));
            }
        }

        _maxHold = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length) - 1;
        _pending = new char[Math.Max(16, 2 * (_maxHold + 1))];
    }

    /// <summary>True once a stop string was seen; later deltas are dropped.</summary>
    public bool Stopped { get; private set; }

    /// <summary>The stop string that ended the text, if any.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>Adds generated text; returns what can be sent now and whether a stop string ended the text.</summary>
    public (string Emit, bool Stopped) Push(string delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        if (Stopped)
        {
            return (string.Empty, true);
        }

        if (_stops.Length == 0)
        {
            return (delta, false);
        }

        AppendPending(delta);
        var pending = _pending.AsSpan(0, _pendingLength);

        // Held text never contains a whole stop string, so the earliest match is the one to stop at.
        var matchAt = -1;
        foreach (var stop in _stops)
        {
            var at = pending.IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && (matchAt < 0 || at < matchAt))
            {
                matchAt = at;
                MatchedStop = stop;
            }
        }

        if (matchAt >= 0)
        {
            Stopped = true;
            var before = new string(pending[..matchAt]);
            _pendingLength = 0;
            return (before, true);
        }

        var hold = HeldTailLength(pending);
        var emit = hold == pending.Length ? string.Empty : new string(pending[..^hold]);
        pending[^hold..].CopyTo(_pending);
        _pendingLength = hold;
        return (emit, false);
    }

    /// <summary>At the end of generation: the held-back tail, which turned out not to start a stop string.</summary>
    public string Flush()
    {
        if (Stopped || _pendingLength == 0)
        {
            return string.Empty;
        }

        var text = new string(_pending, 0, _pendingLength);
        _pendingLength = 0;
        return text;
    }

    /// <summary>The longest end of the text that is the beginning of some stop string.</summary>
    private int HeldTailLength(ReadOnlySpan<char> text)
    {
        var longest = 0;
        foreach (var stop in _stops)
        {
            for (var length = Math.Min(stop.Length - 1, text.Length); length > longest; length--)
            {
                if (text[^length..].SequenceEqual(stop.AsSpan(0, length)))
                {
                    longest = length;
                    break;
                }
            }
        }

        return longest;
    }

    private void AppendPending(string delta)
    {
        if (_pendingLength + delta.Length > _pending.Length)
        {
            Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + delta.Length));
        }

        delta.AsSpan().CopyTo(_pending.AsSpan(_pendingLength));
        _pendingLength += delta.Length;
    }
}
