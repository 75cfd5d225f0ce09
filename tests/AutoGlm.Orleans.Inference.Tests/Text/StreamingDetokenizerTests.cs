using System.Text;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tests.Tokenization;
using AutoGlm.Orleans.Inference.Text;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tests.Text;

public sealed class StreamingDetokenizerTests
{
    private static readonly Lazy<Tokenizer> R50k = new(() => TiktokenTokenizer.CreateForEncoding("r50k_base"));

    [Theory]
    [InlineData("héllo 👋🏽 世界")]
    [InlineData("Plain ASCII, with punctuation!")]
    [InlineData("emoji at the end 🧑‍🚀")]
    [InlineData("日本語のテキスト と English mixed; ünïcödé ✓")]
    public void Token_by_token_chunks_are_whole_characters_and_add_up(string text)
    {
        var ids = R50k.Value.EncodeToIds(text);
        var detokenizer = new StreamingDetokenizer(R50k.Value);
        var output = new StringBuilder();
        foreach (var id in ids)
        {
            var chunk = detokenizer.Push(id).ToString();
            Assert.DoesNotContain('\uFFFD', chunk);
            Assert.False(chunk.Length > 0 && char.IsHighSurrogate(chunk[^1]), "chunk ends in half a surrogate pair");
            output.Append(chunk);
        }

        output.Append(detokenizer.Flush());
        Assert.Equal(text, output.ToString());
    }

    [Fact]
    public void A_token_holding_part_of_a_character_waits_for_the_rest()
    {
        // r50k has no token for 世: its three UTF-8 bytes come as more than one token.
        var ids = R50k.Value.EncodeToIds("世");
        Assert.True(ids.Count > 1, $"expected 世 to span tokens, got {ids.Count}");

        var detokenizer = new StreamingDetokenizer(R50k.Value);
        for (var i = 0; i < ids.Count - 1; i++)
        {
            Assert.Equal(string.Empty, detokenizer.Push(ids[i]).ToString());
        }

        Assert.Equal("世", detokenizer.Push(ids[^1]).ToString());
        Assert.Equal(string.Empty, detokenizer.Flush().ToString());
    }

    [Fact]
    public void Prompt_context_does_not_leak_into_the_output()
    {
        var prompt = R50k.Value.EncodeToIds("<|user|>\nHi 世界\n<|assistant|>\n");
        var reply = R50k.Value.EncodeToIds("Hello there, 世界!");
        var detokenizer = new StreamingDetokenizer(R50k.Value, prompt);
        var output = new StringBuilder();
        foreach (var id in reply)
        {
            output.Append(detokenizer.Push(id));
        }

        output.Append(detokenizer.Flush());
        Assert.Equal("Hello there, 世界!", output.ToString());
    }

    [Fact]
    public void Flush_shows_a_character_that_never_completed()
    {
        var ids = R50k.Value.EncodeToIds("世");
        var detokenizer = new StreamingDetokenizer(R50k.Value);
        Assert.Equal(string.Empty, detokenizer.Push(ids[0]).ToString());
        var flushed = detokenizer.Flush().ToString();
        Assert.NotEmpty(flushed);
        Assert.All(flushed, c => Assert.Equal('\uFFFD', c));
        Assert.Equal(string.Empty, detokenizer.Flush().ToString());
    }

    [Fact]
    public void Long_generations_keep_working_past_the_initial_buffer()
    {
        var text = string.Concat(Enumerable.Repeat("Streaming 世界 text 👋🏽, ", 40));
        var ids = R50k.Value.EncodeToIds(text);
        Assert.True(ids.Count > 200);
        var detokenizer = new StreamingDetokenizer(R50k.Value);
        var output = new StringBuilder();
        foreach (var id in ids)
        {
            output.Append(detokenizer.Push(id));
        }

        output.Append(detokenizer.Flush());
        Assert.Equal(text, output.ToString());
    }

    [Fact]
    public void Decoding_a_token_allocates_nothing_once_warm()
    {
        var ids = R50k.Value.EncodeToIds(string.Concat(Enumerable.Repeat("Steady decoding 世界 of a long reply, 👋🏽 token by token. ", 30)));
        var detokenizer = new StreamingDetokenizer(R50k.Value);
        var chars = 0;
        for (var i = 0; i < 50; i++)
        {
            chars += detokenizer.Push(ids[i]).Length;
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 50; i < ids.Count; i++)
        {
            chars += detokenizer.Push(ids[i]).Length;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(chars > 1000);
    }

    [Fact]
    public void A_sentencepiece_reply_keeps_its_spaces_across_window_moves()
    {
        // SentencePiece decodes a lone "▁word" without its space: only a window with context keeps it right.
        using var dir = new TempDirectory();
        TinySentencePieceModel.Write(dir.File("tokenizer.model"));
        var tokenizer = TokenizerLoader.Load(new TokenizerManifest { Kind = "sentencepiece", File = "tokenizer.model" }, dir.Path);
        var text = "hello world héllo world hello  world hello world héllo world hello world";
        var ids = tokenizer.EncodeToIds(text);
        Assert.True(ids.Count > 12, $"{ids.Count} ids: too few to move the window");
        var detokenizer = new StreamingDetokenizer(tokenizer);
        var output = new StringBuilder();
        foreach (var id in ids)
        {
            output.Append(detokenizer.Push(id));
        }

        output.Append(detokenizer.Flush());
        Assert.Equal(tokenizer.Decode(ids), output.ToString());
    }
}
