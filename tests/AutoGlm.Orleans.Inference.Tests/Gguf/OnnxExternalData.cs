using System.Text;

namespace AutoGlm.Orleans.Inference.Tests.Gguf;

/// <summary>
/// Where an ONNX graph keeps a weight in its external-data file: the offset and length of the initializer named so,
/// read from the protobuf wire format (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.name = 8,
/// TensorProto.external_data = 13 of key 1 / value 2 entries). Enough for a test to compare the converter's output
/// with the bytes our engine loads, without the onnx package's reader or the converter's own.
/// </summary>
public static class OnnxExternalData
{
    public static (long Offset, int Length) Locate(string onnxPath, string initializer)
    {
        var model = File.ReadAllBytes(onnxPath);
        foreach (var (field, graph) in Fields(model))
        {
            if (field != 7)
            {
                continue;
            }

            foreach (var (g, tensor) in Fields(graph))
            {
                if (g == 5 && Describe(tensor) is { Name: var name } found && name == initializer)
                {
                    return (long.Parse(found.Entries["offset"], System.Globalization.CultureInfo.InvariantCulture),
                        int.Parse(found.Entries["length"], System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }

        throw new InvalidDataException($"{onnxPath}: no external initializer '{initializer}'");
    }

    private static (string Name, Dictionary<string, string> Entries) Describe(ReadOnlyMemory<byte> tensor)
    {
        var name = "";
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (field, value) in Fields(tensor))
        {
            if (field == 8)
            {
                name = Encoding.UTF8.GetString(value.Span);
            }
            else if (field == 13)
            {
                var entry = Fields(value).ToDictionary(f => f.Field, f => Encoding.UTF8.GetString(f.Value.Span));
                entries[entry[1]] = entry[2];
            }
        }

        return (name, entries);
    }

    /// <summary>The length-delimited fields of one message (numbers and fixed-width fields are skipped).</summary>
    private static IEnumerable<(int Field, ReadOnlyMemory<byte> Value)> Fields(ReadOnlyMemory<byte> message)
    {
        var i = 0;
        while (i < message.Length)
        {
            var key = Varint(message.Span, ref i);
            var wire = (int)(key & 7);
            switch (wire)
            {
                case 0:
                    Varint(message.Span, ref i);
                    break;
                case 1:
                    i += 8;
                    break;
                case 2:
                    var length = (int)Varint(message.Span, ref i);
                    yield return ((int)(key >> 3), message.Slice(i, length));
                    i += length;
                    break;
                case 5:
                    i += 4;
                    break;
                default:
                    throw new InvalidDataException($"protobuf wire type {wire}");
            }
        }
    }

    private static ulong Varint(ReadOnlySpan<byte> bytes, ref int i)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = bytes[i++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}
