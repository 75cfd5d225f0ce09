using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>A SentencePiece BPE model (Llama 2's tokenizer.model, a serialized ModelProto).</summary>
public static class SentencePieceLoader
{
    /// <summary>
    /// Microsoft.ML.Tokenizers normalizes and decodes; <see cref="SentencePieceBpeTokenizer"/> encodes, because the
    /// library's BPE breaks score ties at the wrong end and so disagrees with sentencepiece on repeated pieces.
    /// </summary>
    public static SentencePieceBpeTokenizer Load(string path, IReadOnlyDictionary<string, int>? specialTokens)
    {
        var bytes = TokenizerFiles.ReadAll(path, "SentencePiece model");
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            var specials = specialTokens is { Count: > 0 } ? specialTokens : null;
            // No implicit <s>: every loader returns a tokenizer that encodes exactly the text it is given, and the
            // prompt builder adds BOS from the manifest, so a template never gets it twice.
            var inner = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false, specials);
            var model = SentencePieceModelFile.Parse(bytes);
            if (model.ModelType != 2)
            {
                throw new InvalidDataException($"model type {model.ModelType}, not BPE (2)");
            }

            return new SentencePieceBpeTokenizer(inner, model, specials);
        }
        catch (Exception ex) when (TokenizerFiles.IsContentError(ex) || ex is InvalidDataException)
        {
            throw new InvalidDataException($"{path}: not a SentencePiece BPE model: {ex.Message}", ex);
        }
    }
}
