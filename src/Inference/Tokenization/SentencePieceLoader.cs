using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>A SentencePiece BPE model (Llama 2's tokenizer.model, a serialized ModelProto).</summary>
public static class SentencePieceLoader
{
    public static SentencePieceTokenizer Load(string path, IReadOnlyDictionary<string, int>? specialTokens)
    {
        var bytes = TokenizerFiles.ReadAll(path, "SentencePiece model");
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            // No implicit <s>: every loader returns a tokenizer that encodes exactly the text it is given, and the
            // prompt builder adds BOS from the manifest, so a template never gets it twice.
            return LlamaTokenizer.Create(
                stream,
                addBeginOfSentence: false,
                addEndOfSentence: false,
                specialTokens is { Count: > 0 } ? specialTokens : null);
        }
        catch (Exception ex) when (TokenizerFiles.IsContentError(ex))
        {
            throw new InvalidDataException($"{path}: not a SentencePiece BPE model: {ex.Message}", ex);
        }
    }
}
