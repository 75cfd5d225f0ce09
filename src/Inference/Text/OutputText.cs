namespace AutoGlm.Orleans.Inference.Text;

/// <summary>
/// One generation's text: appended as its tokens decode, released to its stream in slices. Released text is never
/// written again, so a chunk's <see cref="ReadOnlyMemory{T}"/> stays valid for as long as a consumer keeps it, after
/// the request is over too; held text (a possible stop string, not yet released) may still be dropped. Growing
/// moves only the held part into a new array: released slices keep pointing at the old one. Sized at submission,
/// so the scheduler's thread allocates only when a reply outgrows the estimate. Not thread-safe: one per request,
/// written by the scheduler.
/// </summary>
internal sealed class OutputText
{
    private char[] _buffer;
    private int _released;
    private int _length;

    public OutputText(int capacity) => _buffer = new char[Math.Max(16, capacity)];

    /// <summary>Appended but not released: what a stop string may still take back.</summary>
    public ReadOnlySpan<char> Held => _buffer.AsSpan(_released, _length - _released);

    public void Append(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return;
        }

        if (_length + text.Length > _buffer.Length)
        {
            var held = _length - _released;
            var grown = new char[Math.Max(_buffer.Length * 2, held + text.Length)];
            _buffer.AsSpan(_released, held).CopyTo(grown);
            _buffer = grown;
            _released = 0;
            _length = held;
        }

        text.CopyTo(_buffer.AsSpan(_length));
        _length += text.Length;
    }

    /// <summary>Releases the first <paramref name="count"/> held characters: the text of the next chunk.</summary>
    public ReadOnlyMemory<char> Release(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)count, (uint)(_length - _released), nameof(count));
        var slice = new ReadOnlyMemory<char>(_buffer, _released, count);
        _released += count;
        return slice;
    }

    /// <summary>Forgets the held text (a stop string matched in it): nothing after it is ever released.</summary>
    public void DropHeld() => _length = _released;
}
