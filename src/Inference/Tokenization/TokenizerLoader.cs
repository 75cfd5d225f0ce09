using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>Builds the Microsoft.ML.Tokenizers tokenizer a model manifest names.</summary>
public static class TokenizerLoader
{
    public static Tokenizer Load(TokenizerManifest manifest, string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(modelDirectory);
        return manifest.Kind switch
        {
            "tiktoken" when manifest.Encoding is { Length: > 0 } encoding => TiktokenTokenizer.CreateForEncoding(encoding),
            "tiktoken" => TiktokenFileLoader.Load(
                FileOf(manifest, modelDirectory), manifest.Pattern, manifest.SpecialTokens),
            "sentencepiece" => SentencePieceLoader.Load(FileOf(manifest, modelDirectory), manifest.SpecialTokens),
            "hf-bpe" or "bpe" => HuggingFaceBpeLoader.Load(
                FileOf(manifest, modelDirectory), manifest.SpecialTokens, manifest.Pattern),
            _ => throw new NotSupportedException(
                $"tokenizer kind '{manifest.Kind}' (model folder {modelDirectory}) is not supported"),
        };
    }

    private static string FileOf(TokenizerManifest manifest, string modelDirectory) =>
        manifest.File is { Length: > 0 } file
            ? Path.Combine(modelDirectory, file)
            : throw new InvalidDataException(
                $"tokenizer kind '{manifest.Kind}' (model folder {modelDirectory}) needs a 'file' or 'encoding'");
}
