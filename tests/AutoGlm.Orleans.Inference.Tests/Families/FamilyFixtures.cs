using System.Text.Json;
using System.Text.Json.Serialization;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Inference.Tests.Families;

/// <summary>
/// The family fixtures (tests/fixtures/families/&lt;family&gt;/{optimum,gqa}, made by tools/model/family_export.py):
/// Llama-, Qwen2- and GLM-4-shaped decoders trained here, each exported as Optimum writes it (config.json, Concat KV,
/// position_ids) and as onnxruntime-genai's builder writes it (genai_config.json, GroupQueryAttention with the rotary
/// inside, no position_ids), with no model.json of ours; reference.json holds what torch computed.
/// </summary>
public static class FamilyFixtures
{
    public const string Llama = "llama";
    public const string Qwen2 = "qwen2";
    public const string Glm4 = "glm4";
    public const string Optimum = "optimum";
    public const string Gqa = "gqa";

    public static readonly string[] Names = [Llama, Qwen2, Glm4];
    public static readonly string[] Layouts = [Optimum, Gqa];

    private static readonly Dictionary<string, FamilyReference> References = [];

    public static string Root => Path.Combine(RepositoryPaths.Root, "tests", "fixtures", "families");

    public static string Folder(string family, string layout) => Path.Combine(Root, family, layout);

    /// <summary>Every family in both layouts.</summary>
    public static TheoryData<string, string> All()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in Names)
        {
            foreach (var layout in Layouts)
            {
                data.Add(family, layout);
            }
        }

        return data;
    }

    public static FamilyReference Reference(string family)
    {
        lock (References)
        {
            if (!References.TryGetValue(family, out var reference))
            {
                using var stream = File.OpenRead(Path.Combine(Root, family, "reference.json"));
                reference = JsonSerializer.Deserialize<FamilyReference>(stream)
                    ?? throw new InvalidDataException($"{family}: empty reference.json");
                References[family] = reference;
            }

            return reference;
        }
    }

    public static InferenceEngine Engine(string family, string layout, Func<EngineOptions, EngineOptions>? configure = null)
    {
        var options = new EngineOptions { ModelPath = Folder(family, layout), IntraOpThreads = 2 };
        return InferenceEngine.Create(configure is null ? options : configure(options));
    }
}

public sealed record FamilyReference(
    [property: JsonPropertyName("family")] string Family,
    [property: JsonPropertyName("model_type")] string ModelType,
    [property: JsonPropertyName("template")] string Template,
    [property: JsonPropertyName("end_of_turn_ids")] int[] EndOfTurnIds,
    [property: JsonPropertyName("logits_tolerance")] float LogitsTolerance,
    [property: JsonPropertyName("references")] IReadOnlyList<FamilyCase> References,
    [property: JsonPropertyName("template_cases")] IReadOnlyList<TemplateCase> TemplateCases);

public sealed record FamilyCase(
    [property: JsonPropertyName("messages")] IReadOnlyList<FamilyMessage> Messages,
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("prompt_ids")] int[] PromptIds,
    [property: JsonPropertyName("greedy_ids")] int[] GreedyIds,
    [property: JsonPropertyName("turn_ids")] int[] TurnIds,
    [property: JsonPropertyName("turn_ended")] bool TurnEnded,
    [property: JsonPropertyName("last_logits")] float[] LastLogits);

public sealed record TemplateCase(
    [property: JsonPropertyName("messages")] IReadOnlyList<FamilyMessage> Messages,
    [property: JsonPropertyName("add_generation_prompt")] bool AddGenerationPrompt,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("ids")] int[] Ids);

public sealed record FamilyMessage(
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("content")] string Content)
{
    public ChatMessage ToChat() => new(Role switch
    {
        "system" => ChatRole.System,
        "user" => ChatRole.User,
        "assistant" => ChatRole.Assistant,
        _ => throw new InvalidDataException($"unknown role {Role}"),
    }, Content);

    public static ChatMessage[] ToChat(IEnumerable<FamilyMessage> messages) => [.. messages.Select(m => m.ToChat())];
}
