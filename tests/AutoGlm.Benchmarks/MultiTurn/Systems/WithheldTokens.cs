using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using AutoGlm.Orleans.Inference.Models;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// llama-server streams a token only once the text so far ends on a whole UTF-8 character: a token that ends inside
/// one is held back, and the event of the token that completes the character lists only that token, while its
/// content holds the held-back bytes too (tokens_predicted still counts them all). The client needs every id to send
/// the history back, so this recovers the held-back ids from those bytes with the model's vocabulary: exactly when
/// one token was held back (one token spells those bytes), by the longest-match split otherwise, which may differ
/// from what was generated: llama.cpp then finds its cache diverging there, and cache_n shows what that cost. Ids
/// held back at the very end of a reply never reach the client (no later event carries their text): the history
/// goes on without them, that many tokens shorter. Both are counted for the report.
/// </summary>
public sealed class WithheldTokens
{
    private readonly Dictionary<int, byte[]> _spelling;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly int _longest;
    private int _events;
    private int _exact;
    private int _split;
    private int _lost;

    private WithheldTokens(Dictionary<int, byte[]> spelling)
    {
        _spelling = spelling;
        foreach (var (id, bytes) in spelling)
        {
            // Latin-1 maps each byte to one char: a byte string as a dictionary key.
            _ids[Encoding.Latin1.GetString(bytes)] = id;
            _longest = Math.Max(_longest, bytes.Length);
        }
    }

    /// <summary>
    /// For the model folder's tiktoken vocabulary: the rank file it names, or the Microsoft.ML.Tokenizers data package of
    /// its encoding (r50k_base is in Microsoft.ML.Tokenizers.Data.R50kBase), read here because the tokenizer does not
    /// expose its token bytes. Null (and why) for another kind of tokenizer.
    /// </summary>
    public static (WithheldTokens? Tokens, string? Why) ForModel(string modelPath)
    {
        var manifest = ModelFolder.Load(modelPath);
        var tokenizer = manifest.Tokenizer;
        if (tokenizer.Kind != "tiktoken")
        {
            return (null, $"the llamacpp client recovers withheld token ids from a tiktoken vocabulary; {manifest.Name} has a {tokenizer.Kind} tokenizer");
        }

        if (tokenizer.File is { Length: > 0 } file)
        {
            using var ranks = File.OpenRead(Path.Combine(modelPath, file));
            return (new WithheldTokens(ReadRanks(ranks)), null);
        }

        var encoding = tokenizer.Encoding ?? "";
        var package = "Microsoft.ML.Tokenizers.Data." + string.Concat(encoding.Split('_').Select(p => p.Length == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..]));
        var resource = encoding + ".tiktoken.deflate";
        using var compressed = Assembly.Load(package).GetManifestResourceStream(resource)
            ?? throw new InvalidDataException($"{package} has no resource {resource}");
        using var inflated = new DeflateStream(compressed, CompressionMode.Decompress);
        return (new WithheldTokens(ReadRanks(inflated)), null);
    }

    /// <summary>A tiktoken rank file: "base64 rank" lines, or base64 alone in rank order after a "Capacity: N" line (the data packages' form).</summary>
    private static Dictionary<int, byte[]> ReadRanks(Stream stream)
    {
        var spelling = new Dictionary<int, byte[]>();
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || parts[0].EndsWith(':'))
            {
                continue;
            }

            var rank = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : spelling.Count;
            spelling[rank] = Convert.FromBase64String(parts[0]);
        }

        return spelling;
    }

    /// <summary>
    /// The <paramref name="missing"/> ids held back before <paramref name="shown"/>, from the event's
    /// <paramref name="content"/> (their bytes, then the shown tokens' bytes).
    /// </summary>
    public IReadOnlyList<int> Recover(string content, IReadOnlyList<int> shown, int missing)
    {
        ArgumentNullException.ThrowIfNull(shown);
        Interlocked.Increment(ref _events);
        var bytes = Encoding.UTF8.GetBytes(content);
        var tail = new List<byte>();
        foreach (var id in shown)
        {
            if (!_spelling.TryGetValue(id, out var spelling))
            {
                return Lost(missing);
            }

            tail.AddRange(spelling);
        }

        var held = bytes.Length - tail.Count;
        if (held <= 0 || !bytes.AsSpan(held).SequenceEqual(tail.ToArray()))
        {
            return Lost(missing);
        }

        var ids = Split(bytes.AsSpan(0, held));
        if (missing == 1 && ids.Count == 1)
        {
            Interlocked.Increment(ref _exact);
        }
        else
        {
            Interlocked.Increment(ref _split);
        }

        return ids;
    }

    /// <summary>Ids held back at the end of a reply: counted, never recovered.</summary>
    public void LostAtEnd(int count)
    {
        Interlocked.Increment(ref _events);
        Lost(count);
    }

    public void Reset()
    {
        _events = 0;
        _exact = 0;
        _split = 0;
        _lost = 0;
    }

    public string Summary() => _events == 0
        ? "every token id arrived in the stream"
        : $"{_events} time(s) llama-server held token ids back (a token ending inside a UTF-8 character): {_exact} recovered exactly "
          + $"(one token), {_split} by the longest-match split of their bytes, {_lost} id(s) lost at a reply's end (that history is shorter)";

    private IReadOnlyList<int> Lost(int count)
    {
        Interlocked.Add(ref _lost, count);
        return [];
    }

    private List<int> Split(ReadOnlySpan<byte> bytes)
    {
        var ids = new List<int>();
        var text = Encoding.Latin1.GetString(bytes);
        for (var start = 0; start < text.Length;)
        {
            for (var length = Math.Min(_longest, text.Length - start); length > 0; length--)
            {
                if (_ids.TryGetValue(text.Substring(start, length), out var id))
                {
                    ids.Add(id);
                    start += length;
                    break;
                }

                if (length == 1)
                {
                    throw new InvalidDataException($"byte {(int)text[start]} has no token in the vocabulary");
                }
            }
        }

        return ids;
    }
}
