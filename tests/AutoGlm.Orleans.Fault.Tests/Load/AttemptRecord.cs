using System.Globalization;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>One attempt of a turn: where it went, when, and what came back. Written only by the lane that made it.</summary>
public sealed class AttemptRecord
{
    public required int Retry { get; init; }

    /// <summary>The index of the silo whose HTTP endpoint took the attempt.</summary>
    public required int Endpoint { get; init; }

    public required TimeSpan Started { get; init; }

    /// <summary>When the response headers came (the first byte): for a stream, the server had its first chunk.</summary>
    public TimeSpan? Headers { get; set; }

    public TimeSpan? FirstText { get; set; }

    public TimeSpan? Ended { get; set; }

    public int? Status { get; set; }

    /// <summary>"ok", "409 conversation_busy", "503 unavailable", "connection refused", "timeout", "stream error unavailable" …</summary>
    public string Outcome { get; set; } = "running";

    public StreamEnd Stream { get; set; }

    /// <summary>The server's Retry-After on a 503/429, which the client honours (a longer wait than its own backoff).</summary>
    public TimeSpan? RetryAfter { get; set; }

    /// <summary>The endpoint refused the connection (nothing listens: its process is down).</summary>
    public bool ConnectionRefused { get; set; }

    /// <summary>A 200 whose body had no JSON reply or no SSE event at all.</summary>
    public bool EmptyBody { get; set; }

    public bool Replayed { get; set; }

    /// <summary>The silo that generated the reply, as it named itself ("S127.0.0.1:port:generation").</summary>
    public string? Silo { get; set; }

    public override string ToString()
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"  retry {Retry} → silo{Endpoint} at {Started.TotalSeconds:F3}s: {Outcome}");
        if (Headers is { } headers)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", headers +{(headers - Started).TotalMilliseconds:F0}ms");
        }

        if (Ended is { } ended)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", ended +{(ended - Started).TotalMilliseconds:F0}ms");
        }

        if (RetryAfter is { } retryAfter)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", Retry-After {retryAfter.TotalSeconds:F0}s");
        }

        if (Stream != StreamEnd.None)
        {
            text += ", stream " + Stream;
        }

        if (Silo is not null)
        {
            text += ", generated on " + Silo;
        }

        return Replayed ? text + ", replayed" : text;
    }
}
