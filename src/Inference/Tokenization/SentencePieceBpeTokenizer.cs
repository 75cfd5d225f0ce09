using System.Buffers;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>
/// SentencePiece BPE encoding exactly as sentencepiece's bpe_model.cc does it, over Microsoft.ML.Tokenizers' own
/// normalization and decoding. Its encoder breaks ties between equally scored pairs at the rightmost pair, where
/// sentencepiece takes the leftmost: every run of a repeated piece ("▁▁▁" in indentation, "...", "===") then
/// tokenizes differently from the library a model was trained with (Llama 2's tokenizer has whitespace-run pieces).
/// </summary>
public sealed class SentencePieceBpeTokenizer : Tokenizer
{
    private readonly SentencePieceTokenizer _inner;
    private readonly Dictionary<string, (int Id, float Score, int Type)> _pieces = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Id, float Score, int Type)>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string[] _userDefined;
    private readonly int[] _byteIds = new int[256];
    private readonly bool _byteFallback;
    private readonly int _unknownId;
    private readonly Regex? _specialsRegex;
    private readonly IReadOnlyDictionary<string, int>? _specials;

    internal SentencePieceBpeTokenizer(SentencePieceTokenizer inner, SentencePieceModelFile model, IReadOnlyDictionary<string, int>? specialTokens)
    {
        _inner = inner;
        _byteFallback = model.ByteFallback;
        Array.Fill(_byteIds, -1);
        var userDefined = new List<string>();
        for (var id = 0; id < model.Pieces.Count; id++)
        {
            var piece = model.Pieces[id];
            switch (piece.Type)
            {
                case SentencePieceModelFile.TypeByte when piece.Text.Length == 6 && piece.Text.StartsWith("<0x", StringComparison.Ordinal):
                    _byteIds[Convert.ToInt32(piece.Text[3..5], 16)] = id;
                    break;
                case SentencePieceModelFile.TypeUnknown:
                    _unknownId = id;
                    break;
                case SentencePieceModelFile.TypeNormal or SentencePieceModelFile.TypeUnused or SentencePieceModelFile.TypeUserDefined:
                    // The merge candidates: bpe_model.cc looks pairs up among normal, user-defined and unused pieces.
                    _pieces.TryAdd(piece.Text, (id, piece.Score, piece.Type));
                    if (piece.Type == SentencePieceModelFile.TypeUserDefined)
                    {
                        userDefined.Add(piece.Text);
                    }

                    break;
            }
        }

        _lookup = _pieces.GetAlternateLookup<ReadOnlySpan<char>>();
        _userDefined = [.. userDefined.OrderByDescending(p => p.Length)];
        if (specialTokens is { Count: > 0 })
        {
            _specials = specialTokens;
            _specialsRegex = new Regex(string.Join("|", specialTokens.Keys.OrderByDescending(k => k.Length).Select(Regex.Escape)),
                RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
    }

    public override Normalizer? Normalizer => _inner.Normalizer;

    public override PreTokenizer? PreTokenizer => null;

    public IReadOnlyDictionary<string, int> Vocabulary => _inner.Vocabulary;

    public int BeginningOfSentenceId => _inner.BeginningOfSentenceId;

    public int EndOfSentenceId => _inner.EndOfSentenceId;

    public int UnknownId => _unknownId;

    public bool ByteFallback => _byteFallback;

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        var source = text is null ? textSpan : text.AsSpan();
        var normalized = settings.ConsiderNormalization && Normalizer is not null ? Normalizer.Normalize(source) : source.ToString();
        var tokens = new List<EncodedToken>();
        var position = 0;
        if (_specialsRegex is not null)
        {
            foreach (Match match in _specialsRegex.Matches(normalized))
            {
                Encode(normalized, position, match.Index - position, tokens);
                tokens.Add(new EncodedToken(_specials![match.Value], match.Value, new Range(match.Index, match.Index + match.Length)));
                position = match.Index + match.Length;
            }
        }

        Encode(normalized, position, normalized.Length - position, tokens);
        var consumed = normalized.Length;
        if (tokens.Count > settings.MaxTokenCount)
        {
            tokens.RemoveRange(settings.MaxTokenCount, tokens.Count - settings.MaxTokenCount);
            consumed = tokens.Count == 0 ? 0 : tokens[^1].Offset.End.Value;
        }

        return new EncodeResults<EncodedToken>
        {
            Tokens = tokens,
            NormalizedText = settings.ConsiderNormalization && Normalizer is not null ? normalized : null,
            CharsConsumed = consumed,
        };
    }

    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten) =>
        _inner.Decode(ids, destination, out idsConsumed, out charsWritten);

    public override string Decode(IEnumerable<int> ids) => _inner.Decode(ids);

    /// <summary>bpe_model.cc's Encode over text[start, start + length): symbols, the agenda of mergeable pairs, output.</summary>
    private void Encode(string text, int start, int length, List<EncodedToken> tokens)
    {
        if (length <= 0)
        {
            return;
        }

        var span = text.AsSpan(start, length);
        var starts = ArrayPool<int>.Shared.Rent(length);
        var lengths = ArrayPool<int>.Shared.Rent(length);
        var prev = ArrayPool<int>.Shared.Rent(length);
        var next = ArrayPool<int>.Shared.Rent(length);
        var frozen = ArrayPool<bool>.Shared.Rent(length);
        try
        {
            // 1. Characters (a surrogate pair is one), a user-defined piece as one frozen symbol.
            var count = 0;
            for (var i = 0; i < span.Length;)
            {
                var size = UserDefinedAt(span[i..]);
                var isUser = size > 0;
                if (!isUser)
                {
                    size = char.IsHighSurrogate(span[i]) && i + 1 < span.Length && char.IsLowSurrogate(span[i + 1]) ? 2 : 1;
                }

                (starts[count], lengths[count], frozen[count]) = (i, size, isUser);
                prev[count] = count - 1;
                next[count] = i + size < span.Length ? count + 1 : -1;
                count++;
                i += size;
            }

            // 2. Merge the best pair first: highest score, then the leftmost (sentencepiece's SymbolPairComparator).
            var agenda = new PriorityQueue<(int Left, int Right, int Size), (float NegativeScore, int Left)>();
            Dictionary<(int Start, int Length), (int LeftStart, int LeftLength, int RightStart, int RightLength)>? unusedParts = null;
            void Consider(int left, int right)
            {
                if (left < 0 || right < 0 || frozen[left] || frozen[right])
                {
                    return;
                }

                var size = lengths[left] + lengths[right];
                if (!_lookup.TryGetValue(text.AsSpan(start + starts[left], size), out var piece))
                {
                    return;
                }

                agenda.Enqueue((left, right, size), (-piece.Score, left));
                if (piece.Type == SentencePieceModelFile.TypeUnused)
                {
                    unusedParts ??= [];
                    unusedParts[(starts[left], size)] = (starts[left], lengths[left], starts[right], lengths[right]);
                }
            }

            for (var i = 1; i < count; i++)
            {
                Consider(i - 1, i);
            }

            while (agenda.TryDequeue(out var pair, out _))
            {
                // Stale: one side has been merged into something else since the pair was queued.
                if (lengths[pair.Left] == 0 || lengths[pair.Right] == 0 || lengths[pair.Left] + lengths[pair.Right] != pair.Size)
                {
                    continue;
                }

                lengths[pair.Left] = pair.Size;
                next[pair.Left] = next[pair.Right];
                if (next[pair.Right] >= 0)
                {
                    prev[next[pair.Right]] = pair.Left;
                }

                lengths[pair.Right] = 0;
                Consider(prev[pair.Left], pair.Left);
                Consider(pair.Left, next[pair.Left]);
            }

            // 3. Ids: unused pieces split back into their parts, unknown ones as UTF-8 bytes (byte fallback).
            for (var s = count > 0 ? 0 : -1; s >= 0; s = next[s])
            {
                Emit(text, start, span, starts[s], lengths[s], unusedParts, tokens);
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(starts);
            ArrayPool<int>.Shared.Return(lengths);
            ArrayPool<int>.Shared.Return(prev);
            ArrayPool<int>.Shared.Return(next);
            ArrayPool<bool>.Shared.Return(frozen);
        }
    }

    private void Emit(string text, int offset, ReadOnlySpan<char> span, int start, int length,
        Dictionary<(int Start, int Length), (int LeftStart, int LeftLength, int RightStart, int RightLength)>? unusedParts,
        List<EncodedToken> tokens)
    {
        var slice = span.Slice(start, length);
        var range = new Range(offset + start, offset + start + length);
        if (_lookup.TryGetValue(slice, out var piece))
        {
            if (piece.Type == SentencePieceModelFile.TypeUnused && unusedParts is not null
                && unusedParts.TryGetValue((start, length), out var parts))
            {
                Emit(text, offset, span, parts.LeftStart, parts.LeftLength, unusedParts, tokens);
                Emit(text, offset, span, parts.RightStart, parts.RightLength, unusedParts, tokens);
                return;
            }

            tokens.Add(new EncodedToken(piece.Id, text.Substring(offset + start, length), range));
            return;
        }

        if (!_byteFallback)
        {
            tokens.Add(new EncodedToken(_unknownId, text.Substring(offset + start, length), range));
            return;
        }

        Span<byte> utf8 = stackalloc byte[8];
        var written = System.Text.Encoding.UTF8.GetBytes(slice, utf8);
        for (var b = 0; b < written; b++)
        {
            var id = _byteIds[utf8[b]];
            tokens.Add(new EncodedToken(id >= 0 ? id : _unknownId, $"<0x{utf8[b]:X2}>", range));
        }
    }

    /// <summary>The length of the longest user-defined piece at the start of <paramref name="text"/>, 0 for none.</summary>
    private int UserDefinedAt(ReadOnlySpan<char> text)
    {
        foreach (var piece in _userDefined)
        {
            if (text.StartsWith(piece, StringComparison.Ordinal))
            {
                return piece.Length;
            }
        }

        return 0;
    }
}
