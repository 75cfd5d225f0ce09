using System.Text.Json;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>The one JSON shape of the parent/child protocol (snake_case, like the result file).</summary>
public static class ChildJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = false,
    };
}
