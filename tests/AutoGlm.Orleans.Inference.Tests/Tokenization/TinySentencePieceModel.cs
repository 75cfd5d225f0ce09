using System.Text;

namespace AutoGlm.Orleans.Inference.Tests.Tokenization;

/// <summary>
/// Hand-encodes a SentencePiece ModelProto (sentencepiece_model.proto) shaped like Llama 2's: a BPE trainer spec
/// with byte fallback, an identity normalizer that adds the dummy "▁" prefix, and pieces
/// &lt;unk&gt; &lt;s&gt; &lt;/s&gt;, &lt;0x00&gt;..&lt;0xFF&gt;, then words scored so earlier merges win.
/// </summary>
internal static class TinySentencePieceModel
{
    public const int Unk = 0;
    public const int Bos = 1;
    public const int Eos = 2;
    public const int FirstWord = 3 + 256;

    /// <summary>Word pieces from id <see cref="FirstWord"/> on.</summary>
    public static readonly string[] Words =
        ["▁h", "el", "lo", "▁hel", "▁hello", "▁w", "or", "▁wor", "ld", "▁world", "▁", "h", "e", "l", "o", "w", "r", "d"];

    public static int IdOf(string piece) => FirstWord + Array.IndexOf(Words, piece);

    public static int ByteId(byte b) => 3 + b;

    public static void Write(string path)
    {
        var model = new ProtoWriter();
        model.Message(1, Piece("<unk>", 0, type: 2));
        model.Message(1, Piece("<s>", 0, type: 3));
        model.Message(1, Piece("</s>", 0, type: 3));
        for (var b = 0; b < 256; b++)
        {
            model.Message(1, Piece($"<0x{b:X2}>", 0, type: 6));
        }

        for (var i = 0; i < Words.Length; i++)
        {
            model.Message(1, Piece(Words[i], -i, type: 1));
        }

        var trainer = new ProtoWriter();
        trainer.Varint(3, 2); // model_type = BPE
        trainer.Varint(4, (ulong)(FirstWord + Words.Length)); // vocab_size
        trainer.Varint(35, 1); // byte_fallback
        model.Message(2, trainer);

        var normalizer = new ProtoWriter();
        normalizer.Bytes(1, Encoding.UTF8.GetBytes("identity"));
        normalizer.Varint(3, 1); // add_dummy_prefix
        normalizer.Varint(4, 0); // remove_extra_whitespaces
        normalizer.Varint(5, 1); // escape_whitespaces
        model.Message(3, normalizer);

        File.WriteAllBytes(path, model.ToArray());
    }

    private static ProtoWriter Piece(string piece, float score, int type)
    {
        var message = new ProtoWriter();
        message.Bytes(1, Encoding.UTF8.GetBytes(piece));
        message.Fixed32(2, BitConverter.SingleToUInt32Bits(score));
        message.Varint(3, (ulong)type);
        return message;
    }

    /// <summary>Just enough of the protobuf wire format: varints, fixed32 and length-delimited fields.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _buffer = new();

        public void Varint(int field, ulong value)
        {
            Tag(field, 0);
            WriteVarint(value);
        }

        public void Fixed32(int field, uint value)
        {
            Tag(field, 5);
            Span<byte> bytes = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
            _buffer.Write(bytes);
        }

        public void Bytes(int field, byte[] value)
        {
            Tag(field, 2);
            WriteVarint((ulong)value.Length);
            _buffer.Write(value);
        }

        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _buffer.ToArray();

        private void Tag(int field, int wireType) => WriteVarint((ulong)((field << 3) | wireType));

        private void WriteVarint(ulong value)
        {
            while (value >= 0x80)
            {
                _buffer.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _buffer.WriteByte((byte)value);
        }
    }
}
