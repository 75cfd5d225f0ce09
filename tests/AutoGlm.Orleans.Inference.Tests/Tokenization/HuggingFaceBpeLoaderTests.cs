using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.Tokenizers;
using static AutoGlm.Orleans.Inference.Tests.Tokenization.TinyTokenizerFiles;

namespace AutoGlm.Orleans.Inference.Tests.Tokenization;

/// <summary>A Qwen2-shaped byte-level BPE tokenizer.json, with merges in both serialized forms.</summary>
public sealed class HuggingFaceBpeLoaderTests : IDisposable
{
    private const int EndOfText = 262;
    private const int ImStart = 263;
    private const int ImEnd = 264;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Tokenizer Load(bool mergesAsPairs, object? preTokenizer = null)
    {
        WriteTokenizerJson(_dir.File("tokenizer.json"), mergesAsPairs, preTokenizer);
        var manifest = new TokenizerManifest { Kind = "hf-bpe", File = "tokenizer.json" };
        return TokenizerLoader.Load(manifest, _dir.Path);
    }

    public static TheoryData<bool, string, int[]> Cases()
    {
        var data = new TheoryData<bool, string, int[]>();
        foreach (var pairs in new[] { false, true })
        {
            data.Add(pairs, "hello", [Hello]);
            data.Add(pairs, "hello world", [Hello, SpaceWo, 'r', 'l', 'd']);
            data.Add(pairs, "héllo 😀", ['h', 0xC3, 0xA9, Ll, 'o', ' ', 0xF0, 0x9F, 0x98, 0x80]);
            data.Add(pairs, "<|im_start|>user\nhello<|im_end|>", [ImStart, 'u', 's', 'e', 'r', '\n', Hello, ImEnd]);
            data.Add(pairs, "hello<|endoftext|>", [Hello, EndOfText]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encodes_to_exact_ids_and_decodes_back(bool mergesAsPairs, string text, int[] expected)
    {
        var tokenizer = Load(mergesAsPairs);
        var ids = tokenizer.EncodeToIds(text);
        Assert.Equal(expected, ids);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void Added_tokens_become_special_tokens()
    {
        var tokenizer = Assert.IsType<BpeTokenizer>(Load(mergesAsPairs: true));
        Assert.Equal(ImEnd, tokenizer.SpecialTokens!["<|im_end|>"]);
        Assert.Equal("<|im_end|>", tokenizer.Decode([ImEnd]));
    }

    [Fact]
    public void The_nfc_normalizer_is_applied()
    {
        var tokenizer = Load(mergesAsPairs: false);
        // e + combining acute composes to é (C3 A9) before the bytes are split.
        Assert.Equal(['h', 0xC3, 0xA9, Ll, 'o'], tokenizer.EncodeToIds("he\u0301llo"));
    }

    [Fact]
    public void A_bare_byte_level_pre_tokenizer_splits_like_gpt2()
    {
        var tokenizer = Assert.IsType<BpeTokenizer>(
            Load(mergesAsPairs: false, new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true }));
        var pieces = tokenizer.PreTokenizer!.PreTokenize("hello 12345").Select(r => "hello 12345".Substring(r.Offset, r.Length));
        Assert.Equal(["hello", " 12345"], pieces);
        Assert.Equal([Hello, SpaceWo, 'r', 'l', 'd'], tokenizer.EncodeToIds("hello world"));
    }

    [Fact]
    public void A_non_byte_level_model_is_rejected_by_name()
    {
        var path = _dir.File("tokenizer.json");
        WriteTokenizerJson(path, mergesAsPairs: true, preTokenizer: new { type = "Metaspace", replacement = "▁" });
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"ByteLevel\"", "\"Metaspace\"", StringComparison.Ordinal));
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceBpeLoader.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("byte-level", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_json_is_reported_by_name()
    {
        var path = _dir.File("tokenizer.json");
        File.WriteAllText(path, "{ \"model\": ");
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceBpeLoader.Load(path));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_reported_by_name()
    {
        var error = Assert.Throws<FileNotFoundException>(() => HuggingFaceBpeLoader.Load(_dir.File("tokenizer.json")));
        Assert.Equal(_dir.File("tokenizer.json"), error.FileName);
    }
}
