using System.Text;

namespace AutoGlm.Orleans.Inference.Tests.Gguf;

/// <summary>
/// A GGUF file read from its specification (ggml/docs/gguf.md): header, metadata key/values, tensor infos, and the
/// data section, 32-byte aligned unless general.alignment says otherwise. Written for the converter's test, apart from
/// the converter, so that the two never share a misreading.
/// </summary>
public sealed class GgufFile
{
    private readonly byte[] _bytes;

    private GgufFile(byte[] bytes, uint version, Dictionary<string, object> metadata, List<GgufTensor> tensors, long dataStart)
    {
        _bytes = bytes;
        Version = version;
        Metadata = metadata;
        Tensors = tensors;
        DataStart = dataStart;
    }

    public uint Version { get; }

    /// <summary>Scalars as their CLR type (uint, int, float, bool, string, ...), arrays as object[].</summary>
    public IReadOnlyDictionary<string, object> Metadata { get; }

    public IReadOnlyList<GgufTensor> Tensors { get; }

    public long DataStart { get; }

    public T Get<T>(string key) => (T)Metadata[key];

    public T[] Array<T>(string key) => [.. ((object[])Metadata[key]).Cast<T>()];

    public GgufTensor Tensor(string name) => Tensors.Single(t => t.Name == name);

    /// <summary>The bytes of <paramref name="tensor"/>: its elements in its type's layout.</summary>
    public ReadOnlySpan<byte> Data(GgufTensor tensor) => _bytes.AsSpan((int)(DataStart + (long)tensor.Offset), tensor.ByteCount);

    public static GgufFile Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        using var reader = new BinaryReader(new MemoryStream(bytes), Encoding.UTF8);
        if (reader.ReadUInt32() != 0x46554747)
        {
            throw new InvalidDataException($"{path}: no GGUF magic");
        }

        var version = reader.ReadUInt32();
        var tensorCount = reader.ReadUInt64();
        var kvCount = reader.ReadUInt64();
        var metadata = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < kvCount; i++)
        {
            var key = ReadString(reader);
            metadata[key] = ReadValue(reader, reader.ReadUInt32());
        }

        var tensors = new List<GgufTensor>();
        for (ulong i = 0; i < tensorCount; i++)
        {
            var name = ReadString(reader);
            var dims = new ulong[reader.ReadUInt32()];
            for (var d = 0; d < dims.Length; d++)
            {
                dims[d] = reader.ReadUInt64();
            }

            tensors.Add(new GgufTensor(name, dims, reader.ReadUInt32(), reader.ReadUInt64()));
        }

        var alignment = metadata.TryGetValue("general.alignment", out var a) ? (uint)a : 32u;
        var dataStart = (reader.BaseStream.Position + alignment - 1) / alignment * alignment;
        return new GgufFile(bytes, version, metadata, tensors, dataStart);
    }

    private static string ReadString(BinaryReader reader) => Encoding.UTF8.GetString(reader.ReadBytes(checked((int)reader.ReadUInt64())));

    private static object ReadValue(BinaryReader reader, uint type) => type switch
    {
        0 => reader.ReadByte(),
        1 => reader.ReadSByte(),
        2 => reader.ReadUInt16(),
        3 => reader.ReadInt16(),
        4 => reader.ReadUInt32(),
        5 => reader.ReadInt32(),
        6 => reader.ReadSingle(),
        7 => reader.ReadByte() != 0,
        8 => ReadString(reader),
        9 => ReadArray(reader),
        10 => reader.ReadUInt64(),
        11 => reader.ReadInt64(),
        12 => reader.ReadDouble(),
        _ => throw new InvalidDataException($"unknown GGUF value type {type}"),
    };

    private static object[] ReadArray(BinaryReader reader)
    {
        var type = reader.ReadUInt32();
        var items = new object[checked((int)reader.ReadUInt64())];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = ReadValue(reader, type);
        }

        return items;
    }
}

/// <summary>One tensor info: <see cref="Dims"/> fastest-varying first (ne[0] is a row's length), a ggml type, an offset into the data section.</summary>
public sealed record GgufTensor(string Name, ulong[] Dims, uint Type, ulong Offset)
{
    public const uint F32 = 0;
    public const uint Q4_0 = 2;
    public const uint Q8_0 = 8;

    public long Elements => Dims.Aggregate(1L, (n, d) => n * (long)d);

    /// <summary>f32: 4 bytes a value; q8_0: 34 bytes and q4_0: 18 bytes per block of 32 values.</summary>
    public int ByteCount => checked((int)(Type switch
    {
        F32 => Elements * 4,
        Q8_0 => Elements / 32 * 34,
        Q4_0 => Elements / 32 * 18,
        _ => throw new NotSupportedException($"ggml type {Type}"),
    }));
}
