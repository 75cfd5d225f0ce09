using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>The pre-tokenizer regexes byte-level BPE vocabularies were trained with, and a guarded way to build one.</summary>
public static class PreTokenizerPatterns
{
    /// <summary>
    /// cl100k_base's split, which GLM-4 reuses verbatim; ranks files carry no pattern, so this is the default for
    /// a tiktoken file.
    /// </summary>
    public const string Cl100k =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>GPT-2's split: what a Hugging Face ByteLevel pre-tokenizer applies when use_regex is on.</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>
    /// A regex pre-tokenizer that also cuts around <paramref name="specialTokens"/>, so they reach the model whole.
    /// A pattern .NET cannot compile is reported against <paramref name="source"/>, the file it came from.
    /// </summary>
    public static RegexPreTokenizer Create(string pattern, IReadOnlyDictionary<string, int>? specialTokens, string source)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        Regex regex;
        try
        {
            regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{source}: pre-tokenizer pattern is not a valid .NET regex: {ex.Message}", ex);
        }

        return new RegexPreTokenizer(regex, specialTokens is { Count: > 0 } ? specialTokens : null);
    }
}
