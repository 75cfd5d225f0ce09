using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>
/// A Hugging Face tokenizer.json whose model is byte-level BPE (GPT-2, Qwen2, Llama 3). Microsoft.ML.Tokenizers
/// 2.0 has no tokenizer.json reader, so this takes out the parts a byte-level BPE needs: model.vocab,
/// model.merges, added_tokens, the normalizer and the pre-tokenizer's split regex.
/// </summary>
public static class HuggingFaceBpeLoader
{
    /// <param name="path">The tokenizer.json.</param>
    /// <param name="extraSpecialTokens">Tokens to treat as special on top of the file's added_tokens.</param>
    /// <param name="patternOverride">A split regex to use instead of the file's.</param>
    public static BpeTokenizer Load(
        string path,
        IReadOnlyDictionary<string, int>? extraSpecialTokens = null,
        string? patternOverride = null)
    {
        var bytes = TokenizerFiles.ReadAll(path, "tokenizer.json");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {ex.Message}", ex);
        }

        using (document)
        {
            return Build(document.RootElement, path, extraSpecialTokens, patternOverride);
        }
    }

    private static BpeTokenizer Build(
        JsonElement root,
        string path,
        IReadOnlyDictionary<string, int>? extraSpecialTokens,
        string? patternOverride)
    {
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("model", out var model)
            || model.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: no \"model\" object");
        }

        if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
        {
            throw new InvalidDataException($"{path}: model.type is '{type}', only BPE is supported");
        }

        var preTokenizer = root.TryGetProperty("pre_tokenizer", out var p) ? p : default;
        var decoder = root.TryGetProperty("decoder", out var d) ? d : default;
        var byteLevel = FindByType(preTokenizer, "pretokenizers", "ByteLevel");
        if (byteLevel is null && FindByType(decoder, "decoders", "ByteLevel") is null)
        {
            throw new InvalidDataException(
                $"{path}: not a byte-level BPE (no ByteLevel pre-tokenizer or decoder); "
                + "for a SentencePiece-style model use kind 'sentencepiece' with its tokenizer.model");
        }

        var specialTokens = ReadAddedTokens(root, path);
        foreach (var (token, id) in extraSpecialTokens ?? new Dictionary<string, int>())
        {
            specialTokens[token] = id;
        }

        var pattern = patternOverride ?? SplitPattern(preTokenizer, byteLevel, path);
        var options = new BpeOptions(ReadVocab(model, path))
        {
            Merges = ReadMerges(model, path),
            ByteLevel = true,
            SpecialTokens = specialTokens.Count > 0 ? specialTokens : null,
            PreTokenizer = PreTokenizerPatterns.Create(pattern, specialTokens, path),
            Normalizer = ReadNormalizer(root, path),
            UnknownToken = model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String
                ? unk.GetString()
                : null,
        };

        try
        {
            return BpeTokenizer.Create(options);
        }
        catch (Exception ex) when (TokenizerFiles.IsContentError(ex))
        {
            throw new InvalidDataException($"{path}: the BPE model is inconsistent: {ex.Message}", ex);
        }
    }

    private static List<KeyValuePair<string, int>> ReadVocab(JsonElement model, string path)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: model.vocab must be an object of token → id");
        }

        var entries = new List<KeyValuePair<string, int>>();
        foreach (var entry in vocab.EnumerateObject())
        {
            if (!entry.Value.TryGetInt32(out var id) || id < 0)
            {
                throw new InvalidDataException($"{path}: model.vocab[\"{entry.Name}\"] is not a token id");
            }

            entries.Add(new(entry.Name, id));
        }

        if (entries.Count == 0)
        {
            throw new InvalidDataException($"{path}: model.vocab is empty");
        }

        return entries;
    }

    /// <summary>
    /// Merges come as "a b" strings (tokenizers before 0.20) or as [a, b] pairs (since); BpeOptions wants the
    /// merges.txt line form. Byte-level tokens never contain a space (it is 'Ġ'), so joining with one is lossless.
    /// </summary>
    private static List<string> ReadMerges(JsonElement model, string path)
    {
        var merges = new List<string>();
        if (!model.TryGetProperty("merges", out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return merges;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{path}: model.merges must be an array");
        }

        foreach (var merge in array.EnumerateArray())
        {
            string? line = merge.ValueKind switch
            {
                JsonValueKind.String when merge.GetString() is { } s && s.Split(' ').Length == 2 => s,
                JsonValueKind.Array when merge.GetArrayLength() == 2
                    && merge[0].GetString() is { } left && merge[1].GetString() is { } right
                    && !left.Contains(' ', StringComparison.Ordinal) && !right.Contains(' ', StringComparison.Ordinal)
                    => $"{left} {right}",
                _ => null,
            };
            merges.Add(line ?? throw new InvalidDataException(
                $"{path}: model.merges[{merges.Count}] is not a pair of space-free tokens: {merge.GetRawText()}"));
        }

        return merges;
    }

    /// <summary>Every added token, special or not: both are matched whole before BPE runs, as Hugging Face does.</summary>
    private static Dictionary<string, int> ReadAddedTokens(JsonElement root, string path)
    {
        var tokens = new Dictionary<string, int>(StringComparer.Ordinal);
        if (!root.TryGetProperty("added_tokens", out var added) || added.ValueKind == JsonValueKind.Null)
        {
            return tokens;
        }

        if (added.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{path}: added_tokens must be an array");
        }

        foreach (var token in added.EnumerateArray())
        {
            if (token.ValueKind != JsonValueKind.Object
                || !token.TryGetProperty("content", out var content) || content.GetString() is not { Length: > 0 } text
                || !token.TryGetProperty("id", out var id) || !id.TryGetInt32(out var value))
            {
                throw new InvalidDataException($"{path}: added_tokens entry without content and id: {token.GetRawText()}");
            }

            tokens[text] = value;
        }

        return tokens;
    }

    /// <summary>
    /// The split regex: a Split pre-tokenizer's (Qwen2, Llama 3, alone or in a Sequence before a ByteLevel with
    /// use_regex off), otherwise GPT-2's when the ByteLevel pre-tokenizer splits by itself (use_regex, default on).
    /// </summary>
    private static string SplitPattern(JsonElement preTokenizer, JsonElement? byteLevel, string path)
    {
        if (FindByType(preTokenizer, "pretokenizers", "Split") is { } split)
        {
            if (split.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True)
            {
                throw new InvalidDataException($"{path}: inverted Split pre-tokenizers are not supported");
            }

            if (split.TryGetProperty("pattern", out var pattern))
            {
                if (pattern.TryGetProperty("Regex", out var regex) && regex.GetString() is { Length: > 0 } r)
                {
                    return r;
                }

                if (pattern.TryGetProperty("String", out var literal) && literal.GetString() is { Length: > 0 } s)
                {
                    return Regex.Escape(s);
                }
            }

            throw new InvalidDataException($"{path}: Split pre-tokenizer without a pattern");
        }

        if (byteLevel is { } b && !(b.TryGetProperty("use_regex", out var useRegex) && useRegex.ValueKind == JsonValueKind.False))
        {
            return PreTokenizerPatterns.Gpt2;
        }

        throw new InvalidDataException($"{path}: no split regex in pre_tokenizer (expected a Split with pattern.Regex)");
    }

    private static UnicodeNormalizer? ReadNormalizer(JsonElement root, string path)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var type = normalizer.TryGetProperty("type", out var t) ? t.GetString() : null;
        return type switch
        {
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Sequence" when normalizer.TryGetProperty("normalizers", out var list)
                && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() == 0 => null,
            _ => throw new InvalidDataException($"{path}: normalizer '{type}' is not supported"),
        };
    }

    /// <summary>The component of <paramref name="type"/> in a pre-tokenizer or decoder, alone or inside a Sequence.</summary>
    private static JsonElement? FindByType(JsonElement component, string sequenceProperty, string type)
    {
        if (component.ValueKind != JsonValueKind.Object || !component.TryGetProperty("type", out var kind))
        {
            return null;
        }

        if (kind.GetString() == type)
        {
            return component;
        }

        if (kind.GetString() == "Sequence"
            && component.TryGetProperty(sequenceProperty, out var items)
            && items.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in items.EnumerateArray())
            {
                if (FindByType(item, sequenceProperty, type) is { } found)
                {
                    return found;
                }
            }
        }

        return null;
    }
}
