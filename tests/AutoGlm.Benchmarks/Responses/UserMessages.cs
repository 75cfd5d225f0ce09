using AutoGlm.Orleans.Benchmarks.MultiTurn;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tokenization;

namespace AutoGlm.Orleans.Benchmarks.Responses;

/// <summary>
/// User messages of exactly N words, in the model's own domain (<see cref="EnglishText"/>'s questions about .NET
/// types and requests for quotes), drawn from a seeded generator: the same seed gives the same messages.
/// </summary>
internal sealed class UserMessages(EnglishText english, int contextLength)
{
    public int ContextLength { get; } = contextLength;

    public static UserMessages Load(string modelPath)
    {
        var manifest = ModelFolder.Load(modelPath);
        return new UserMessages(new EnglishText(TokenizerLoader.Load(manifest.Tokenizer, modelPath)), manifest.ContextLength);
    }

    public IReadOnlyList<string> Draw(int seed, int count, int words)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => Words(random, words))];
    }

    private string Words(Random random, int words)
    {
        // English runs ~1.3 tokens a word: twice the words in tokens always holds enough of them.
        var all = english.Next(random, words * 2).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return string.Join(' ', all.Take(words));
    }
}
