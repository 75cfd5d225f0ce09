using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>
/// A tiktoken ranks file (lines of "base64-token rank", e.g. GLM-4's tokenizer.model). The file holds only the
/// byte-pair ranks: the split regex and the special tokens come from the manifest.
/// </summary>
public static class TiktokenFileLoader
{
    public static TiktokenTokenizer Load(string path, string? pattern, IReadOnlyDictionary<string, int>? specialTokens)
    {
        var bytes = TokenizerFiles.ReadAll(path, "tiktoken ranks file");
        var specials = specialTokens is { Count: > 0 } ? specialTokens : null;
        var preTokenizer = PreTokenizerPatterns.Create(pattern ?? PreTokenizerPatterns.Cl100k, specials, path);
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            return TiktokenTokenizer.Create(stream, preTokenizer, normalizer: null, specials);
        }
        catch (Exception ex) when (TokenizerFiles.IsContentError(ex))
        {
            throw new InvalidDataException(
                $"{path}: not a tiktoken ranks file (expected lines of \"base64-token rank\"): {ex.Message}", ex);
        }
    }
}
