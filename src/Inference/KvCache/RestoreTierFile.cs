using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// One disk-tier entry: a small header, the token ids, then a <see cref="KvSnapshot"/>'s bytes as they are.
/// <para>
/// Layout, little-endian: "AGKVTIER" (8 bytes), format (int32, <see cref="Format"/>), tokens N (int32), bytes per
/// token (int64), data length (int64), id length M (int32); the sequence id (M bytes of UTF-8); N int32 token ids;
/// the data (N × bytes per token, the snapshot's order). A reader checks all of it against what the tier's index says
/// the entry is, so a truncated, foreign or stale file is refused, never imported.
/// </para>
/// </summary>
internal static class RestoreTierFile
{
    public const int Format = 1;
    private const int FixedHeader = 8 + 4 + 4 + 8 + 8 + 4;
    private static ReadOnlySpan<byte> Magic => "AGKVTIER"u8;

    /// <summary>Writes the entry to <paramref name="temporary"/> and renames it to <paramref name="path"/>: a reader sees a whole file or none.</summary>
    public static void Write(string temporary, string path, string id, ReadOnlySpan<int> tokens, long bytesPerToken, ReadOnlySpan<byte> data)
    {
        var header = Header(id, tokens, bytesPerToken, data.Length);
        // Unbuffered: the data is one large span, written straight from it. No flush to the platter: the tier is a
        // cache, and a crash loses nothing it must keep (a restarted engine deletes the dead one's folder).
        using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            stream.SetLength(header.Length + data.Length);
            stream.Write(header);
            stream.Write(data);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// Reads the KV of the first <paramref name="count"/> of the entry's tokens into a new array in the snapshot's
    /// order for <paramref name="count"/> tokens: the whole data when count is all of them, otherwise each head's
    /// first positions of each tensor (2 × layers × heads reads). Throws <see cref="InvalidDataException"/> when the
    /// file is not the entry <paramref name="id"/> / <paramref name="tokens"/> describe.
    /// </summary>
    public static byte[] Read(string path, string id, ReadOnlySpan<int> tokens, KvDescriptor descriptor, int count)
    {
        var expectedHeader = Header(id, tokens, descriptor.BytesPerToken, tokens.Length * descriptor.BytesPerToken);
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        var length = RandomAccess.GetLength(file);
        if (length != expectedHeader.Length + tokens.Length * descriptor.BytesPerToken)
        {
            throw new InvalidDataException($"restore tier file {path} is {length} bytes, not the entry's {expectedHeader.Length + tokens.Length * descriptor.BytesPerToken}");
        }

        var header = new byte[expectedHeader.Length];
        ReadExactly(file, header, 0);
        if (!header.AsSpan().SequenceEqual(expectedHeader))
        {
            throw new InvalidDataException($"restore tier file {path} is not the entry of sequence {id} ({tokens.Length} tokens)");
        }

        var data = GC.AllocateUninitializedArray<byte>(checked((int)(count * descriptor.BytesPerToken)));
        if (count == tokens.Length)
        {
            ReadExactly(file, data, header.Length);
            return data;
        }

        var runs = 2 * descriptor.Layers * descriptor.KvHeads;
        var row = (long)descriptor.HeadDim * descriptor.ElementSize;
        for (var r = 0; r < runs; r++)
        {
            ReadExactly(file, data.AsSpan((int)(r * count * row), (int)(count * row)), header.Length + r * tokens.Length * row);
        }

        return data;
    }

    /// <summary>
    /// The first <paramref name="count"/> tokens' KV of a snapshot's <paramref name="data"/> covering
    /// <paramref name="total"/> tokens, in the snapshot's order for <paramref name="count"/> tokens: the array itself
    /// when count is all of them, else each head's first positions of each tensor copied into a new array.
    /// </summary>
    public static byte[] Prefix(byte[] data, int total, KvDescriptor descriptor, int count)
    {
        if (count == total)
        {
            return data;
        }

        var prefix = GC.AllocateUninitializedArray<byte>(checked((int)(count * descriptor.BytesPerToken)));
        var runs = 2 * descriptor.Layers * descriptor.KvHeads;
        var row = descriptor.HeadDim * descriptor.ElementSize;
        for (var r = 0; r < runs; r++)
        {
            data.AsSpan(r * total * row, count * row).CopyTo(prefix.AsSpan(r * count * row));
        }

        return prefix;
    }

    private static byte[] Header(string id, ReadOnlySpan<int> tokens, long bytesPerToken, long dataLength)
    {
        var idBytes = Encoding.UTF8.GetBytes(id);
        var header = new byte[FixedHeader + idBytes.Length + 4 * tokens.Length];
        var span = header.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], Format);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], tokens.Length);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], bytesPerToken);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], dataLength);
        BinaryPrimitives.WriteInt32LittleEndian(span[32..], idBytes.Length);
        idBytes.CopyTo(span[FixedHeader..]);
        var ids = span[(FixedHeader + idBytes.Length)..];
        for (var i = 0; i < tokens.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(ids[(4 * i)..], tokens[i]);
        }

        return header;
    }

    private static void ReadExactly(SafeFileHandle file, Span<byte> destination, long offset)
    {
        while (!destination.IsEmpty)
        {
            var read = RandomAccess.Read(file, destination, offset);
            if (read == 0)
            {
                throw new InvalidDataException("restore tier file ended early");
            }

            destination = destination[read..];
            offset += read;
        }
    }
}
