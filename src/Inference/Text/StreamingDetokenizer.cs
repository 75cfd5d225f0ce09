using System.Buffers;
using System.Collections;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Text;

/// <summary>
/// Turns generated token ids into text as they arrive, incrementally: one decode of a short window per token. A token
/// can end in the middle of a UTF-8 character (emoji and CJK often span two or three byte-level tokens), and some
/// tokenizers decode a token differently at the start of a sequence (SentencePiece drops the leading space), so a
/// token is decoded within a window that starts a few ids back (the context of Hugging Face's prefix offset) and
/// only the text past what the window already gave is returned, once it no longer ends in an incomplete character.
/// Every few tokens the window moves up to about its last <see cref="MaxContextIds"/> ids (a decode more then), so a
/// token costs about one decode of a few ids where Hugging Face's streamer decodes two windows.
/// Text comes back as a span over a reused buffer and nothing is allocated per token. Not thread-safe: one per request.
/// </summary>
public sealed class StreamingDetokenizer
{
    /// <summary>How many of the last ids are enough context for the next token (and of the prompt's, for the first).</summary>
    public const int MaxContextIds = 4;

    /// <summary>The window moves once it holds this many ids and nothing in it is pending.</summary>
    private const int WindowIds = 2 * MaxContextIds;

    private const char ReplacementChar = '\uFFFD';

    private readonly Tokenizer _tokenizer;
    private readonly IdSlice _slice = new();
    private readonly int[] _ids = new int[64];
    private int _count;
    // Characters of the window's decoded text already returned (or, for the context, never to be).
    private int _emitted;
    // The window ends in ids whose text was not returned yet (an unfinished character).
    private bool _pending;
    private char[] _chars = new char[256];
    private char[] _scratch = new char[256];
    // The window's length at which it next tries to move (later after a try that found no start).
    private int _moveAt = WindowIds;

    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="contextIds">The prompt's ids (only the last <see cref="MaxContextIds"/> are kept), so the first
    /// generated token decodes as it would after the prompt rather than at the start of a text.</param>
    public StreamingDetokenizer(Tokenizer tokenizer, IReadOnlyList<int>? contextIds = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        if (contextIds is { Count: > 0 })
        {
            for (var i = Math.Max(0, contextIds.Count - MaxContextIds); i < contextIds.Count; i++)
            {
                _ids[_count++] = contextIds[i];
            }

            _emitted = Decode(out _);
        }
    }

    /// <summary>Adds a generated token; returns the text it completes, possibly empty, valid until the next call.</summary>
    public ReadOnlySpan<char> Push(int tokenId)
    {
        if (!_pending && _count >= _moveAt)
        {
            MoveWindow();
        }
        else if (_count == _ids.Length)
        {
            // Only a long run of ids that never finish a character gets here: that text is dropped, decoding goes on.
            _pending = false;
            _emitted = Decode(out _);
            MoveWindow();
        }

        _ids[_count++] = tokenId;
        var length = Decode(out var complete);
        if (!complete || length <= _emitted || _chars[length - 1] == ReplacementChar)
        {
            _pending = true;
            return [];
        }

        var text = _chars.AsSpan(_emitted, length - _emitted);
        _emitted = length;
        _pending = false;
        return text;
    }

    /// <summary>At the end of generation: whatever is still held back, invalid bytes shown as U+FFFD.</summary>
    public ReadOnlySpan<char> Flush()
    {
        if (!_pending)
        {
            return [];
        }

        // The span overload stops before an unfinished character; the string one shows it as U+FFFD, as wanted here.
        _slice.Set(_ids, 0, _count);
        var full = _tokenizer.Decode(_slice);
        _pending = false;
        var text = full.Length > _emitted ? full.AsSpan(_emitted) : [];
        _emitted = full.Length;
        return text;
    }

    /// <summary>
    /// Moves the window's start up to keep about its last <see cref="MaxContextIds"/> ids, at a start whose decoded text
    /// is exactly the end of the window's (all of it returned already) and that is not inside a character: any other
    /// start is passed over for an earlier one. None found: the window stays as it is,
    /// unless it is full.
    /// </summary>
    private void MoveWindow()
    {
        // _chars still holds the whole window's text, the last decode: every character of it was returned.
        var text = _chars.AsSpan(0, _emitted);
        for (var start = _count - MaxContextIds; start > 0; start--)
        {
            // A window must not start inside a character: its first id alone must decode to whole characters (a
            // leading orphan byte also makes some decoders drop the space of the word after it).
            var first = Decode(start, start + 1, ref _scratch, out var whole);
            if (!whole || first == 0 || _scratch[0] == ReplacementChar)
            {
                continue;
            }

            var length = Decode(start, _count, ref _scratch, out var complete);
            if (complete && length <= text.Length && _scratch.AsSpan(0, length).SequenceEqual(text[^length..]))
            {
                Array.Copy(_ids, start, _ids, 0, _count - start);
                _count -= start;
                _emitted = length;
                (_chars, _scratch) = (_scratch, _chars);
                _moveAt = WindowIds;
                return;
            }
        }

        _moveAt = _count + MaxContextIds;

        if (_count == _ids.Length)
        {
            // A tokenizer whose windows never agree (or a long run of broken bytes): start afresh from the last ids.
            Array.Copy(_ids, _count - MaxContextIds, _ids, 0, MaxContextIds);
            _count = MaxContextIds;
            _emitted = Decode(0, _count, ref _chars, out _);
            _moveAt = WindowIds;
        }
    }

    private int Decode(out bool complete) => Decode(0, _count, ref _chars, out complete);

    /// <summary>Decodes ids[start..end) into <paramref name="buffer"/>, growing it when too small; returns the length.</summary>
    /// <param name="complete">False when the tokenizer stopped short of the last ids (an unfinished character).</param>
    private int Decode(int start, int end, ref char[] buffer, out bool complete)
    {
        _slice.Set(_ids, start, end - start);
        while (true)
        {
            var status = _tokenizer.Decode(_slice, buffer, out var consumed, out var written);
            switch (status)
            {
                case OperationStatus.Done:
                    complete = consumed == end - start;
                    return written;
                case OperationStatus.DestinationTooSmall:
                    buffer = new char[buffer.Length * 2];
                    break;
                default:
                    complete = false;
                    return written;
            }
        }
    }

    /// <summary>
    /// A reusable view of the id window that is its own enumerator, so handing ids to the tokenizer allocates nothing
    /// per token. A second, overlapping enumeration gets a fresh enumerator.
    /// </summary>
    private sealed class IdSlice : IReadOnlyList<int>, IEnumerator<int>
    {
        private int[] _array = [];
        private int _start;
        private int _position;
        private bool _enumerating;

        public int Count { get; private set; }

        public int this[int index] => (uint)index < (uint)Count ? _array[_start + index] : throw new ArgumentOutOfRangeException(nameof(index));

        public int Current => _array[_start + _position];

        object IEnumerator.Current => Current;

        public void Set(int[] array, int start, int count)
        {
            _array = array;
            _start = start;
            Count = count;
        }

        public IEnumerator<int> GetEnumerator()
        {
            if (_enumerating)
            {
                return ((IEnumerable<int>)new ArraySegment<int>(_array, _start, Count)).GetEnumerator();
            }

            _enumerating = true;
            _position = -1;
            return this;
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public bool MoveNext() => ++_position < Count;

        public void Reset() => _position = -1;

        public void Dispose() => _enumerating = false;
    }
}
