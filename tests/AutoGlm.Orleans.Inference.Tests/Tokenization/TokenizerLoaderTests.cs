using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tokenization;

namespace AutoGlm.Orleans.Inference.Tests.Tokenization;

public sealed class TokenizerLoaderTests
{
    [Fact]
    public void Named_encoding_r50k_matches_gpt2()
    {
        var tokenizer = TokenizerLoader.Load(new TokenizerManifest { Kind = "tiktoken", Encoding = "r50k_base" }, ".");
        Assert.Equal([15496, 995], tokenizer.EncodeToIds("Hello world"));
    }

    [Fact]
    public void A_file_kind_without_a_file_says_so()
    {
        var error = Assert.Throws<InvalidDataException>(
            () => TokenizerLoader.Load(new TokenizerManifest { Kind = "hf-bpe" }, "/models/x"));
        Assert.Contains("'file'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_kind_is_not_supported()
    {
        Assert.Throws<NotSupportedException>(
            () => TokenizerLoader.Load(new TokenizerManifest { Kind = "wordpiece", File = "vocab.txt" }, "."));
    }
}
