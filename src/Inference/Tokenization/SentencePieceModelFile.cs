using System.Text;

namespace AutoGlm.Orleans.Inference.Tokenization;

/// <summary>
/// The parts of a SentencePiece ModelProto (sentencepiece_model.proto) that BPE encoding needs: every piece with its
/// score and type, and the trainer's byte_fallback. Read with a minimal protobuf reader, since Microsoft.ML.Tokenizers
/// keeps its generated ModelProto internal.
/// </summary>
internal sealed class SentencePieceModelFile
{
    // sentencepiece_model.proto field numbers.
    private const int PiecesField = 1;
    private const int TrainerSpecField = 2;
    private const int PieceTextField = 1;
    private const int PieceScoreField = 2;
    private const int PieceTypeField = 3;
    private const int ModelTypeField = 3;
    private const int ByteFallbackField = 35;

    public const int TypeNormal = 1;
    public const int TypeUnknown = 2;
    public const int TypeControl = 3;
    public const int TypeUserDefined = 4;
    public const int TypeUnused = 5;
    public const int TypeByte = 6;

    private SentencePieceModelFile(List<Piece> pieces, int modelType, bool byteFallback)
    {
        Pieces = pieces;
        ModelType = modelType;
        ByteFallback = byteFallback;
    }

    public IReadOnlyList<Piece> Pieces { get; }

    /// <summary>TrainerSpec.model_type: 1 unigram (the default), 2 BPE, 3 word, 4 char.</summary>
    public int ModelType { get; }

    public bool ByteFallback { get; }

    public static SentencePieceModelFile Parse(ReadOnlySpan<byte> bytes)
    {
        var pieces = new List<Piece>();
        var modelType = 1;
        var byteFallback = false;
        var reader = new Reader(bytes);
        while (reader.Next(out var field, out var wire))
        {
            if (field == PiecesField && wire == 2)
            {
                pieces.Add(ReadPiece(reader.Bytes()));
            }
            else if (field == TrainerSpecField && wire == 2)
            {
                var spec = new Reader(reader.Bytes());
                while (spec.Next(out var f, out var w))
                {
                    if (f == ModelTypeField && w == 0)
                    {
                        modelType = (int)spec.Varint();
                    }
                    else if (f == ByteFallbackField && w == 0)
                    {
                        byteFallback = spec.Varint() != 0;
                    }
                    else
                    {
                        spec.Skip(w);
                    }
                }
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return pieces.Count > 0
            ? new SentencePieceModelFile(pieces, modelType, byteFallback)
            : throw new InvalidDataException("no pieces in the SentencePiece model");
    }

    private static Piece ReadPiece(ReadOnlySpan<byte> bytes)
    {
        var text = string.Empty;
        var score = 0f;
        var type = TypeNormal;
        var reader = new Reader(bytes);
        while (reader.Next(out var field, out var wire))
        {
            switch (field)
            {
                case PieceTextField when wire == 2:
                    text = Encoding.UTF8.GetString(reader.Bytes());
                    break;
                case PieceScoreField when wire == 5:
                    score = reader.Fixed32();
                    break;
                case PieceTypeField when wire == 0:
                    type = (int)reader.Varint();
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        return new Piece(text, score, type);
    }

    public readonly record struct Piece(string Text, float Score, int Type);

    /// <summary>Protobuf wire format: varints, length-delimited fields, fixed 32/64-bit values.</summary>
    private ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _data;
        private int _position;

        public Reader(ReadOnlySpan<byte> data)
        {
            _data = data;
            _position = 0;
        }

        public bool Next(out int field, out int wire)
        {
            if (_position >= _data.Length)
            {
                (field, wire) = (0, 0);
                return false;
            }

            var key = Varint();
            (field, wire) = ((int)(key >> 3), (int)(key & 7));
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_position >= _data.Length)
                {
                    throw new InvalidDataException("truncated varint in the SentencePiece model");
                }

                var b = _data[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new InvalidDataException("malformed varint in the SentencePiece model");
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var length = (int)Varint();
            if (length < 0 || _position + length > _data.Length)
            {
                throw new InvalidDataException("truncated field in the SentencePiece model");
            }

            var slice = _data.Slice(_position, length);
            _position += length;
            return slice;
        }

        public float Fixed32()
        {
            return System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(Take(4));
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0:
                    Varint();
                    break;
                case 1:
                    Take(8);
                    break;
                case 2:
                    Bytes();
                    break;
                case 5:
                    Take(4);
                    break;
                default:
                    throw new InvalidDataException($"unsupported protobuf wire type {wire} in the SentencePiece model");
            }
        }

        private ReadOnlySpan<byte> Take(int count)
        {
            if (_position + count > _data.Length)
            {
                throw new InvalidDataException("truncated field in the SentencePiece model");
            }

            var slice = _data.Slice(_position, count);
            _position += count;
            return slice;
        }
    }
}
