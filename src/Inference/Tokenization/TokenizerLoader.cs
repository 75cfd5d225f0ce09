using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>Builds the Microsoft.ML.Tokenizers tokenizer a model manifest names.</summary>
public static class TokenizerLoader
{
    public static Tokenizer Load(TokenizerManifest manifest, string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return manifest.Kind switch
        {
            "tiktoken" when manifest.Encoding is { Length: > 0 } encoding => TiktokenTokenizer.CreateForEncoding(encoding),
            _ => throw new NotSupportedException(
                $"tokenizer kind '{manifest.Kind}' (model folder {modelDirectory}) is not supported"),
        };
    }
}
