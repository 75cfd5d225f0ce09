using System.Globalization;
using System.Text;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>One turn (or one create) with every attempt it took; the key is the Idempotency-Key all its attempts carry.</summary>
public sealed class TurnRecord
{
    public required int Lane { get; init; }

    public required string ConversationId { get; init; }

    /// <summary>1-based within its conversation (0 for a create).</summary>
    public required int Number { get; init; }

    public required string Key { get; init; }

    public required TurnKind Kind { get; init; }

    /// <summary>The user message (unique in the run: it names the conversation and the turn).</summary>
    public required string Content { get; init; }

    public required TimeSpan Started { get; init; }

    /// <summary>The endpoint of the first attempt; each retry takes the next one.</summary>
    public required int FirstEndpoint { get; init; }

    /// <summary>The silo that generated the conversation's previous reply (where its grain most likely still is), when known.</summary>
    public string? PreviousSilo { get; init; }

    public List<AttemptRecord> Attempts { get; } = [];

    public TimeSpan? Ended { get; set; }

    public bool Acknowledged { get; set; }

    /// <summary>The reply text the client was given when the turn was acknowledged.</summary>
    public string? AcknowledgedText { get; set; }

    public AttemptRecord? AcknowledgedBy { get; set; }

    /// <summary>Why the client stopped without an acknowledgement ("refused: 404 …", "retries exhausted", "stopped").</summary>
    public string? GaveUp { get; set; }

    public int Retries => Math.Max(0, Attempts.Count - 1);

    public bool IsMessage => Kind != TurnKind.Create;

    public string Describe()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"{Kind} {ConversationId} #{Number} key {Key} (lane {Lane}) started {Started.TotalSeconds:F3}s: ");
        text.Append(Acknowledged ? $"acknowledged \"{Shorten(AcknowledgedText)}\"" : "NOT acknowledged: " + GaveUp);
        foreach (var attempt in Attempts)
        {
            text.AppendLine().Append(attempt);
        }

        return text.ToString();
    }

    private static string Shorten(string? text) => text is null ? string.Empty : text.Length > 60 ? text[..60] + "…" : text;
}
