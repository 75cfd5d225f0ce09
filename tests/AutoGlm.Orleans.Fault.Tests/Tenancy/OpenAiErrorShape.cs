using System.Text.Json;

namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>
/// Checks an error body against OpenAI's shape, <c>{"error": {"message": string, "type": string, "param": string|null,
/// "code": string}}</c>: message, type and code non-empty strings (what an SDK reads), param present, null or a string.
/// </summary>
public static class OpenAiErrorShape
{
    /// <summary>Null when the body has the shape; else what is wrong with it.</summary>
    public static string? Problem(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return "empty body";
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("error", out var error)
                || error.ValueKind != JsonValueKind.Object)
            {
                return "no \"error\" object";
            }

            foreach (var name in (string[])["message", "type", "code"])
            {
                if (!error.TryGetProperty(name, out var value) || value.ValueKind != JsonValueKind.String || value.GetString()!.Length == 0)
                {
                    return $"error.{name} is not a non-empty string";
                }
            }

            return error.TryGetProperty("param", out var param) && param.ValueKind is JsonValueKind.Null or JsonValueKind.String
                ? null
                : "error.param is missing, or neither null nor a string";
        }
        catch (JsonException)
        {
            return "not JSON";
        }
    }
}
