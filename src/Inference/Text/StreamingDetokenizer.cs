using System.Buffers;
using System.Collections;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Text;

/// <summary>
/// Turns generated token ids into text as they arrive. A token can end in the middle of a UTF-8 character
/// (emoji and CJK often span two or three byte-level tokens), and some tokenizers decode a token differently
/// at the start of a sequence (SentencePiece drops the leading space), so each token is decoded together with
/// the previously emitted ones (the prefix/read offsets of Hugging Face's streamers) and only the new suffix is
/// returned, and only once it no longer ends in an incomplete character (U+FFFD).
/// Not thread-safe: one per request.
/// </summary>
public sealed class StreamingDetokenizer
{
    /// <summary>How many of the prompt's last ids are enough context for the first generated token.</summary>
    public const int MaxContextIds = 4;

    private const char ReplacementChar = '\uFFFD';

    private readonly Tokenizer _tokenizer;
    private readonly IdSlice _slice = new();
    private int[] _ids = new int[32];
    private int _count;
    // ids[prefix..read) were emitted last time and give the next decode its context; ids[read..count) are pending.
    private int _prefixOffset;
    private int _readOffset;
    private char[] _prefixChars = new char[64];
    private char[] _fullChars = new char[64];

    /// <param name="tokenizer">The model's tokenizer.</param>
    /// <param name="contextIds">The prompt's ids (only the last <see cref="MaxContextIds"/> are kept), so the first
    /// generated token decodes as it would after the prompt rather than at the start of a text.</param>
    public StreamingDetokenizer(Tokenizer tokenizer, IReadOnlyList<int>? contextIds = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        if (contextIds is not null)
        {
            for (var i = Math.Max(0, contextIds.Count - MaxContextIds); i < contextIds.Count; i++)
            {
                Append(contextIds[i]);
            }

            _readOffset = _count;
        }
    }

    /// <summary>Adds a generated token; returns the text it completes, possibly empty.</summary>
    public string Push(int tokenId)
    {
        Append(tokenId);
        var prefixLength = Decode(_prefixOffset, _readOffset, ref _prefixChars, out _);
        var fullLength = Decode(_prefixOffset, _count, ref _fullChars, out var complete);
        if (!complete || fullLength <= prefixLength || _fullChars[fullLength - 1] == ReplacementChar)
        {
            return string.Empty;
        }

        var text = new string(_fullChars, prefixLength, fullLength - prefixLength);
        _prefixOffset = _readOffset;
        _readOffset = _count;
        return text;
    }

    /// <summary>At the end of generation: whatever is still held back, invalid bytes shown as U+FFFD.</summary>
    public string Flush()
    {
        if (_readOffset == _count)
        {
            return string.Empty;
        }

        // The span overload stops before an unfinished character; the string one shows it as U+FFFD, as wanted here.
        _slice.Set(_ids, _prefixOffset, _readOffset - _prefixOffset);
        var prefix = _slice.Count == 0 ? string.Empty : _tokenizer.Decode(_slice);
        _slice.Set(_ids, _prefixOffset, _count - _prefixOffset);
        var full = _tokenizer.Decode(_slice);
        _prefixOffset = _readOffset = _count;
        return full.Length > prefix.Length ? full[prefix.Length..] : string.Empty;
    }

    private void Append(int id)
    {
        if (_count == _ids.Length)
        {
            // Everything before the prefix is no longer needed: slide the window down before growing.
            if (_prefixOffset > 0)
            {
                Array.Copy(_ids, _prefixOffset, _ids, 0, _count - _prefixOffset);
                _count -= _prefixOffset;
                _readOffset -= _prefixOffset;
                _prefixOffset = 0;
            }
            else
            {
                Array.Resize(ref _ids, _ids.Length * 2);
            }
        }

        _ids[_count++] = id;
    }

    /// <summary>Decodes ids[start..end) into the reusable buffer, growing it when too small; returns the length.</summary>
    /// <param name="complete">False when the tokenizer stopped short of the last ids (an unfinished character).</param>
    private int Decode(int start, int end, ref char[] buffer, out bool complete)
    {
        complete = true;
        if (start == end)
        {
            return 0;
        }

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
    /// A reusable view of part of the id buffer that is its own enumerator, so handing ids to the tokenizer
    /// allocates nothing per token. A second, overlapping enumeration gets a fresh enumerator.
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
