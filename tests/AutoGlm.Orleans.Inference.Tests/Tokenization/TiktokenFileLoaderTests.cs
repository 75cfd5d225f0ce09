using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.Tokenizers;
using static AutoGlm.Orleans.Inference.Tests.Tokenization.TinyTokenizerFiles;

namespace AutoGlm.Orleans.Inference.Tests.Tokenization;

/// <summary>A GLM-4-style tiktoken ranks file with the special tokens and split regex coming from the manifest.</summary>
public sealed class TiktokenFileLoaderTests : IDisposable
{
    private const int EndOfText = 300;
    private const int GMask = 301;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Tokenizer Load(string? pattern = null)
    {
        WriteTiktokenRanks(_dir.File("tokenizer.model"));
        var manifest = new TokenizerManifest
        {
            Kind = "tiktoken",
            File = "tokenizer.model",
            Pattern = pattern,
            SpecialTokens = new Dictionary<string, int> { ["<|endoftext|>"] = EndOfText, ["[gMASK]"] = GMask },
        };
        return TokenizerLoader.Load(manifest, _dir.Path);
    }

    [Theory]
    [InlineData("hello", new[] { Hello })]
    [InlineData("hello world", new[] { Hello, SpaceWo, 'r', 'l', 'd' })]
    [InlineData("héllo", new[] { 'h', 0xC3, 0xA9, Ll, 'o' })]
    [InlineData("[gMASK]hello<|endoftext|>", new[] { GMask, Hello, EndOfText })]
    public void Encodes_to_exact_ids_and_decodes_back(string text, int[] expected)
    {
        var tokenizer = Load();
        var ids = tokenizer.EncodeToIds(text);
        Assert.Equal(expected, ids);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void The_default_pattern_is_cl100k()
    {
        var tokenizer = Assert.IsType<TiktokenTokenizer>(Load());
        var pieces = tokenizer.PreTokenizer!.PreTokenize("hello 12345").Select(r => "hello 12345".Substring(r.Offset, r.Length));
        // cl100k keeps digits in runs of at most three.
        Assert.Equal(["hello", " ", "123", "45"], pieces);
    }

    [Fact]
    public void A_manifest_pattern_replaces_the_default()
    {
        var tokenizer = Load(pattern: @"\S+|\s+");
        // With whitespace split off on its own, " w" can never merge.
        Assert.Equal([Hello, ' ', 'w', 'o', 'r', 'l', 'd'], tokenizer.EncodeToIds("hello world"));
    }

    [Fact]
    public void A_malformed_ranks_file_is_reported_by_name()
    {
        var path = _dir.File("tokenizer.model");
        File.WriteAllText(path, "this is not base64!! x\n");
        var manifest = new TokenizerManifest { Kind = "tiktoken", File = "tokenizer.model" };
        var error = Assert.Throws<InvalidDataException>(() => TokenizerLoader.Load(manifest, _dir.Path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_ranks_file_is_reported_by_name()
    {
        var manifest = new TokenizerManifest { Kind = "tiktoken", File = "nope.model" };
        var error = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(manifest, _dir.Path));
        Assert.Equal(_dir.File("nope.model"), error.FileName);
    }
}
