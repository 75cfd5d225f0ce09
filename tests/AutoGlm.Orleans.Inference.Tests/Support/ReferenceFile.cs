using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>models/tiny-chat/reference.json: what torch computed at export time.</summary>
public sealed record ReferenceFile(
    [property: JsonPropertyName("template")] string Template,
    [property: JsonPropertyName("greedy_new_tokens")] int GreedyNewTokens,
    [property: JsonPropertyName("logits_tolerance")] float LogitsTolerance,
    [property: JsonPropertyName("references")] IReadOnlyList<ReferenceCase> References)
{
    public static ReferenceFile Load(string modelDirectory)
    {
        using var stream = File.OpenRead(Path.Combine(modelDirectory, "reference.json"));
        return JsonSerializer.Deserialize<ReferenceFile>(stream)
            ?? throw new InvalidDataException("empty reference.json");
    }
}

public sealed record ReferenceCase(
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("prompt_ids")] int[] PromptIds,
    [property: JsonPropertyName("greedy_ids")] int[] GreedyIds,
    [property: JsonPropertyName("greedy_text")] string GreedyText,
    [property: JsonPropertyName("last_logits")] float[] LastLogits);
