using System.Text.Json;

namespace AutoGlm.Orleans.Inference.Models;

/// <summary>Works out which tokenizer an exported model folder ships, from the files in it.</summary>
public static class TokenizerDetector
{
    public static TokenizerManifest Detect(string directory)
    {
        if (File.Exists(Path.Combine(directory, "tokenizer.json")))
        {
            // tokenizer.json carries its own added tokens, so the manifest needs none.
            return new TokenizerManifest { Kind = "hf-bpe", File = "tokenizer.json" };
        }

        var model = Path.Combine(directory, "tokenizer.model");
        if (File.Exists(model))
        {
            // GLM-4 and Llama 2 both call their tokenizer "tokenizer.model": one is tiktoken text, one protobuf.
            return IsTiktokenRanks(model)
                ? new TokenizerManifest { Kind = "tiktoken", File = "tokenizer.model", SpecialTokens = AddedTokens(directory) }
                : new TokenizerManifest { Kind = "sentencepiece", File = "tokenizer.model" };
        }

        throw new FileNotFoundException(
            $"{directory}: no tokenizer.json or tokenizer.model to tokenize with", Path.Combine(directory, "tokenizer.json"));
    }

    /// <summary>Whether the first line is "base64-token rank", the tiktoken ranks format.</summary>
    public static bool IsTiktokenRanks(string path)
    {
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: false);
        var buffer = new char[512];
        var read = reader.ReadBlock(buffer, 0, buffer.Length);
        var text = new string(buffer, 0, read);
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        if (newline < 0)
        {
            return false;
        }

        var parts = text[..newline].TrimEnd('\r').Split(' ');
        return parts.Length == 2
            && int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)
            && Convert.TryFromBase64String(parts[0], new byte[parts[0].Length], out _);
    }

    /// <summary>
    /// A tiktoken ranks file has no room for special tokens; Hugging Face keeps them in tokenizer_config.json's
    /// added_tokens_decoder ({"151329": {"content": "&lt;|endoftext|&gt;", ...}}).
    /// </summary>
    private static Dictionary<string, int> AddedTokens(string directory)
    {
        var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
        var path = Path.Combine(directory, "tokenizer_config.json");
        if (!File.Exists(path))
        {
            return tokens;
        }

        using var document = ConfigJson.Parse(path);
        if (ConfigJson.Object(document.RootElement, "added_tokens_decoder", path) is not { } added)
        {
            return tokens;
        }

        foreach (var entry in added.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id)
                || entry.Value.ValueKind != JsonValueKind.Object
                || ConfigJson.String(entry.Value, "content", path) is not { Length: > 0 } content)
            {
                throw new InvalidDataException($"{path}: added_tokens_decoder[\"{entry.Name}\"] needs an integer key and a content");
            }

            tokens[content] = id;
        }

        return tokens;
    }
}
