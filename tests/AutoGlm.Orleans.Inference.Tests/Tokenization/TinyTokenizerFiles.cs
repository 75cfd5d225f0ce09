using System.Text;
using System.Text.Json;

namespace AutoGlm.Orleans.Inference.Tests.Tokenization;

/// <summary>
/// Writes tiny tokenizers in the real on-disk formats, so the loaders are tested against the formats themselves
/// without committing third-party vocabularies. Every byte's token id is the byte's value, which keeps expected
/// ids readable: 104 is 'h', 32 is ' '.
/// </summary>
internal static class TinyTokenizerFiles
{
    /// <summary>Merged tokens after the 256 bytes, in rank order.</summary>
    public static readonly string[] Merged = ["he", "ll", "hell", "hello", " w", " wo"];

    public const int Hello = 259;
    public const int Ll = 257;
    public const int SpaceWo = 261;

    /// <summary>tiktoken ranks: "base64(bytes) rank" per line, as in GLM-4's tokenizer.model.</summary>
    public static void WriteTiktokenRanks(string path)
    {
        var text = new StringBuilder();
        var rank = 0;
        for (; rank < 256; rank++)
        {
            text.Append(Convert.ToBase64String([(byte)rank])).Append(' ').Append(rank).Append('\n');
        }

        foreach (var token in Merged)
        {
            text.Append(Convert.ToBase64String(Encoding.UTF8.GetBytes(token))).Append(' ').Append(rank++).Append('\n');
        }

        File.WriteAllText(path, text.ToString());
    }

    /// <summary>
    /// A Hugging Face tokenizer.json shaped like Qwen2's: NFC, a Split regex then ByteLevel without its own regex,
    /// merges in either the old "a b" or the new [a, b] form, and chat special tokens in added_tokens.
    /// </summary>
    public static void WriteTokenizerJson(string path, bool mergesAsPairs, object? preTokenizer = null)
    {
        var alphabet = ByteLevelAlphabet();
        var vocab = new Dictionary<string, int>();
        for (var b = 0; b < 256; b++)
        {
            vocab[alphabet[b].ToString()] = b;
        }

        var merges = new List<object>();
        var id = 256;
        foreach (var token in Merged)
        {
            var mapped = new string(Encoding.UTF8.GetBytes(token).Select(b => alphabet[b]).ToArray());
            vocab[mapped] = id++;
            // Each merged token here is its predecessor pair: split where the previous token of the list ends.
            var (left, right) = SplitForMerge(mapped, vocab);
            merges.Add(mergesAsPairs ? new[] { left, right } : $"{left} {right}");
        }

        var document = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = new[]
            {
                AddedToken(262, "<|endoftext|>"),
                AddedToken(263, "<|im_start|>"),
                AddedToken(264, "<|im_end|>"),
            },
            ["normalizer"] = new { type = "NFC" },
            ["pre_tokenizer"] = preTokenizer ?? new
            {
                type = "Sequence",
                pretokenizers = new object[]
                {
                    new
                    {
                        type = "Split",
                        pattern = new Dictionary<string, string>
                        {
                            ["Regex"] = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
                        },
                        behavior = "Isolated",
                        invert = false,
                    },
                    new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
                },
            },
            ["decoder"] = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
            ["model"] = new Dictionary<string, object?>
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["byte_fallback"] = false,
                ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(document));
    }

    /// <summary>GPT-2's byte → printable char table (bytes_to_unicode), which byte-level vocabularies are written in.</summary>
    public static char[] ByteLevelAlphabet()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static (string Left, string Right) SplitForMerge(string merged, Dictionary<string, int> vocab)
    {
        for (var cut = merged.Length - 1; cut > 0; cut--)
        {
            if (vocab.ContainsKey(merged[..cut]) && vocab.ContainsKey(merged[cut..]))
            {
                return (merged[..cut], merged[cut..]);
            }
        }

        throw new InvalidOperationException($"no merge makes {merged}");
    }

    private static object AddedToken(int id, string content) => new
    {
        id,
        content,
        single_word = false,
        lstrip = false,
        rstrip = false,
        normalized = false,
        special = true,
    };
}
