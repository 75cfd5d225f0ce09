using System.Text.Json;
using System.Text.Json.Serialization;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Testing.Quality;

/// <summary>
/// models/tiny-chat/quality.json (tools/model/quality_set.py): conversations held out of the training corpus, to
/// compare a variant with the float32 model: prompts for greedy agreement and a validation text for perplexity.
/// </summary>
internal sealed record QualitySet(
    [property: JsonPropertyName("greedy_new_tokens")] int GreedyNewTokens,
    [property: JsonPropertyName("validation_tokens")] int ValidationTokens,
    [property: JsonPropertyName("window_tokens")] int WindowTokens,
    [property: JsonPropertyName("prompts")] IReadOnlyList<QualityPrompt> Prompts,
    [property: JsonPropertyName("validation_text")] string ValidationText)
{
    public const string FileName = "quality.json";

    public static QualitySet Load(string modelDirectory)
    {
        using var stream = File.OpenRead(Path.Combine(modelDirectory, FileName));
        return JsonSerializer.Deserialize<QualitySet>(stream) ?? throw new InvalidDataException($"empty {FileName}");
    }

    /// <summary>A smaller set with the same sources, for quick runs: the first prompts, fewer and shorter windows.</summary>
    public QualitySet Take(int prompts, int greedyNewTokens, int validationTokens, int windowTokens) => this with
    {
        Prompts = [.. Prompts.Take(prompts)],
        GreedyNewTokens = Math.Min(GreedyNewTokens, greedyNewTokens),
        ValidationTokens = Math.Min(ValidationTokens, validationTokens),
        WindowTokens = Math.Min(WindowTokens, windowTokens),
    };

    /// <summary>Each prompt as the engine encodes a chat turn: the template with its generation prompt.</summary>
    public int[][] PromptIds(InferenceEngine engine) =>
        [.. Prompts.Select(p => engine.EncodeChat([.. p.Messages.Select(m => new ChatMessage(Enum.Parse<ChatRole>(m.Role, ignoreCase: true), m.Content))]))];

    /// <summary>The first <see cref="ValidationTokens"/> tokens of the validation text.</summary>
    public int[] ValidationIds(InferenceEngine engine)
    {
        int[] ids = [.. engine.Tokenizer.EncodeToIds(ValidationText)];
        if (ids.Length < ValidationTokens)
        {
            throw new InvalidDataException($"{FileName}: the validation text has {ids.Length} tokens, fewer than validation_tokens ({ValidationTokens})");
        }

        return ids[..ValidationTokens];
    }
}

internal sealed record QualityPrompt([property: JsonPropertyName("messages")] IReadOnlyList<QualityMessage> Messages);

internal sealed record QualityMessage(
    [property: JsonPropertyName("role")] string Role,
    [property: JsonPropertyName("content")] string Content);
