using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.Tokenizers;
using static AutoGlm.Orleans.Inference.Tests.Tokenization.TinySentencePieceModel;

namespace AutoGlm.Orleans.Inference.Tests.Tokenization;

/// <summary>A Llama 2-style SentencePiece BPE model with byte fallback.</summary>
public sealed class SentencePieceLoaderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SentencePieceBpeTokenizer Load()
    {
        Write(_dir.File("tokenizer.model"));
        var manifest = new TokenizerManifest { Kind = "sentencepiece", File = "tokenizer.model" };
        return Assert.IsType<SentencePieceBpeTokenizer>(TokenizerLoader.Load(manifest, _dir.Path));
    }

    public static TheoryData<string, int[]> Cases() => new()
    {
        { "hello", [IdOf("▁hello")] },
        { "hello world", [IdOf("▁hello"), IdOf("▁world")] },
        { "hello  world", [IdOf("▁hello"), IdOf("▁"), IdOf("▁world")] },
        // Pieces the model lacks fall back to their UTF-8 bytes.
        { "Hello", [IdOf("▁"), ByteId((byte)'H'), IdOf("el"), IdOf("lo")] },
        { "héllo", [IdOf("▁h"), ByteId(0xC3), ByteId(0xA9), IdOf("l"), IdOf("lo")] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encodes_to_exact_ids_and_decodes_back(string text, int[] expected)
    {
        var tokenizer = Load();
        var ids = tokenizer.EncodeToIds(text);
        Assert.Equal(expected, ids);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void Control_tokens_keep_their_ids_and_are_not_added_implicitly()
    {
        var tokenizer = Load();
        Assert.Equal(Bos, tokenizer.BeginningOfSentenceId);
        Assert.Equal(Eos, tokenizer.EndOfSentenceId);
        Assert.Equal(Unk, tokenizer.UnknownId);
        Assert.True(tokenizer.ByteFallback);
        Assert.DoesNotContain(Bos, tokenizer.EncodeToIds("hello"));
    }

    [Fact]
    public void A_file_that_is_not_a_model_is_reported_by_name()
    {
        var path = _dir.File("tokenizer.model");
        File.WriteAllText(path, "IQ== 0\nIg== 1\n");
        var manifest = new TokenizerManifest { Kind = "sentencepiece", File = "tokenizer.model" };
        var error = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(manifest, _dir.Path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
