using System.Text.Json;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>Reads OpenAI-shaped error bodies: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
public static class ErrorBodies
{
    public static string? Code(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out var error)
                && error.ValueKind == JsonValueKind.Object
                && error.TryGetProperty("code", out var code)
                ? code.ToString()
                : "unparseable error body";
        }
        catch (JsonException)
        {
            return "non-JSON body";
        }
    }
}
