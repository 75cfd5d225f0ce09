using System.Text;
using System.Text.Json;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// What an SSE body said, line by line: events, text (<c>{"text"}</c>), the finish event (<c>{"finish_reason",
/// "silo"}</c>), an error event (<c>{"error": {"code"}}</c>), <c>[DONE]</c>. Reads the native API's events and, for
/// the end markers, OpenAI's chunks as well.
/// </summary>
public sealed class SseTranscript
{
    private readonly StringBuilder _text = new();

    public int Events { get; private set; }

    public bool Done { get; private set; }

    public string? ErrorCode { get; private set; }

    public bool HasError { get; private set; }

    public string? FinishReason { get; private set; }

    public string? Silo { get; private set; }

    public string Text => _text.ToString();

    public StreamEnd End => Done ? StreamEnd.Done : HasError ? StreamEnd.ErrorEvent : StreamEnd.EndedWithoutDone;

    public static SseTranscript Of(string body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var transcript = new SseTranscript();
        foreach (var line in body.Split('\n'))
        {
            transcript.Feed(line.TrimEnd('\r'));
        }

        return transcript;
    }

    /// <summary>Feeds one line; true when it carried text.</summary>
    public bool Feed(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (!line.StartsWith("data:", StringComparison.Ordinal))
        {
            return false;
        }

        var payload = line[5..].Trim();
        Events++;
        if (payload == "[DONE]")
        {
            Done = true;
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            if (root.TryGetProperty("error", out var error))
            {
                HasError = true;
                ErrorCode = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("code", out var code) ? code.ToString() : "?";
                return false;
            }

            if (root.TryGetProperty("finish_reason", out var finish) && finish.ValueKind == JsonValueKind.String)
            {
                FinishReason = finish.GetString();
                Silo = root.TryGetProperty("silo", out var silo) && silo.ValueKind == JsonValueKind.String ? silo.GetString() : null;
            }

            if (root.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
            {
                _text.Append(text.GetString());
                return true;
            }
        }
        catch (JsonException)
        {
            HasError = true;
            ErrorCode = "unparseable event";
        }

        return false;
    }
}
