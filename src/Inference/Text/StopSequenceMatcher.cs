namespace AutoGlm.Orleans.Inference.Text;

/// <summary>
/// Watches streamed text for stop strings. Text that could be the start of a stop string is held back until more
/// text settles it, so a stop string split across tokens is caught and never partly sent to the client. Stateless
/// but for the match: the caller keeps the held text (<see cref="OutputText"/>) and hands it over after each
/// token's text is appended, so a token costs a few span searches and allocates nothing. Not thread-safe: one per
/// request.
/// </summary>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;

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
    }

    /// <summary>True once a stop string was seen.</summary>
    public bool Stopped => MatchedStop is not null;

    /// <summary>The stop string that ended the text, if any.</summary>
    public string? MatchedStop { get; private set; }

    /// <summary>
    /// How many leading characters of <paramref name="held"/> (all the text not yet released) can be released now.
    /// When a stop string is in it, <see cref="Stopped"/> turns true and the answer is the length before the match:
    /// the rest is never to be released. Otherwise the longest end of the text that begins a stop string stays held,
    /// unless <paramref name="final"/> (the generation is over: nothing more can complete it).
    /// </summary>
    public int Releasable(ReadOnlySpan<char> held, bool final = false)
    {
        if (Stopped)
        {
            return 0;
        }

        // Released text never ends in the start of a stop string, so a match lies wholly in the held text, and the
        // earliest one is where the text stops.
        var matchAt = -1;
        foreach (var stop in _stops)
        {
            var at = held.IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at >= 0 && (matchAt < 0 || at < matchAt))
            {
                matchAt = at;
                MatchedStop = stop;
            }
        }

        if (matchAt >= 0)
        {
            return matchAt;
        }

        return final ? held.Length : held.Length - HeldTailLength(held);
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
}
