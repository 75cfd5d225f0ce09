using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoGlm.Orleans.Inference.Models;

/// <summary>
/// Our description of a decoder-only ONNX model (models/*/model.json): the architecture numbers the KV cache
/// is sized from, the tokenizer and chat template to serve it with, and the graph's tensor names.
/// </summary>
public sealed record ModelManifest
{
    public const string FileName = "model.json";

    public required string Name { get; init; }
    public required string Architecture { get; init; }
    public required int NumLayers { get; init; }
    public required int NumAttentionHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int HiddenSize { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }
    public string Dtype { get; init; } = "float32";

    /// <summary>
    /// The KV cache's element type when it is not <see cref="Dtype"/> (model.json "kv_dtype"): "int8" for a graph
    /// whose GroupQueryAttention quantizes each new token's keys and values on write (k/v_scale inputs); null keeps
    /// the KV in <see cref="Dtype"/>.
    /// </summary>
    public string? KvDtype { get; init; }

    /// <summary>
    /// For a quantized KV: the file (relative to the model folder) holding the scales the graph reads, as ONNX external
    /// data. Its bytes identify the quantization: int8 KV computed with other scales means other values.
    /// </summary>
    public string? KvScalesFile { get; init; }
    public string OnnxFile { get; init; } = "model.onnx";

    /// <summary>
    /// The graph's ONNX external-data file in the model folder, when the manifest names it (the graph records it
    /// itself; this says which file belongs to which graph, e.g. for a variant's size on disk); null: not stated.
    /// </summary>
    public string? WeightsFile { get; init; }

    /// <summary>How the graph's weights are quantized; null for float weights.</summary>
    public WeightQuantization? Quantization { get; init; }
    public required TokenizerManifest Tokenizer { get; init; }
    public required string ChatTemplate { get; init; }
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }
    public IReadOnlyList<int> EndOfTurnTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }
    public required ModelInputNames Inputs { get; init; }
    public required ModelOutputNames Outputs { get; init; }
    /// <summary>"last" when the graph returns logits for the last position only, "all" otherwise.</summary>
    public string LogitsMode { get; init; } = "all";

    /// <summary>
    /// True when the graph's attention writes each step's keys and values into the past tensors in place
    /// (GroupQueryAttention with past_present_share_buffer, as onnxruntime-genai runs it): the same buffer
    /// [B,H,Capacity,Dh] is bound as past and present, rows are right-padded and the mask's row sums give each
    /// row's length. False for the Optimum layout, where present = Concat(past, new).
    /// </summary>
    public bool PastPresentShareBuffer { get; init; }

    /// <summary>
    /// Other graphs in the folder, selectable by name: of the same weights (e.g. "optimum") or of quantized copies
    /// of them (e.g. "int8", with its own weights file).
    /// </summary>
    public IReadOnlyDictionary<string, ModelVariant> Variants { get; init; } = new Dictionary<string, ModelVariant>();

    /// <summary>This manifest with the graph of variant <paramref name="name"/>; null or empty keeps the default graph.</summary>
    public ModelManifest WithVariant(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return this;
        }

        if (!Variants.TryGetValue(name, out var variant))
        {
            throw new ArgumentException(
                $"model {Name} has no variant '{name}' (known: {(Variants.Count == 0 ? "none" : string.Join(", ", Variants.Keys))})", nameof(name));
        }

        var selected = this with
        {
            OnnxFile = variant.OnnxFile,
            PastPresentShareBuffer = variant.PastPresentShareBuffer,
            KvDtype = variant.KvDtype,
            KvScalesFile = variant.KvScalesFile,
            // A variant that names no weights file reads the default graph's (the same weights in another layout).
            WeightsFile = variant.WeightsFile ?? WeightsFile,
            Quantization = variant.Quantization,
        };
        selected.Validate($"{Name} variant '{name}'");
        return selected;
    }

    /// <summary>The KV cache's element type as model.json names it: <see cref="KvDtype"/>, else <see cref="Dtype"/>.</summary>
    [JsonIgnore]
    public string KvElementTypeName => KvDtype ?? Dtype;

    /// <summary>True when the KV is quantized (int8) and so depends on the scales in <see cref="KvScalesFile"/>.</summary>
    [JsonIgnore]
    public bool KvQuantized => KvElementTypeName == "int8";

    /// <summary>
    /// The identity of the KV's quantization: the SHA-256 (lowercase hex) of <see cref="KvScalesFile"/>'s bytes in
    /// <paramref name="modelDirectory"/>; null for a float KV, which needs no scales to mean the same everywhere.
    /// </summary>
    public string? KvScalesIdentity(string modelDirectory)
    {
        if (!KvQuantized)
        {
            return null;
        }

        var path = Path.Combine(modelDirectory, KvScalesFile!);
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    /// <summary>Bytes one cached token costs across all layers: layers × (key + value) × kv heads × head dim × element.</summary>
    public long KvBytesPerToken => (long)NumLayers * 2 * NumKeyValueHeads * HeadDim * ElementSize;

    /// <summary>
    /// The decoder graph's inputs in feed order: ids, mask, positions (when the graph takes them), then each layer's
    /// past key and value.
    /// </summary>
    public string[] GraphInputNames()
    {
        var names = new List<string> { Inputs.InputIds, Inputs.AttentionMask };
        if (Inputs.PositionIds is { } positions)
        {
            names.Add(positions);
        }

        for (var layer = 0; layer < NumLayers; layer++)
        {
            names.Add(Inputs.PastKeyOf(layer));
            names.Add(Inputs.PastValueOf(layer));
        }

        return [.. names];
    }

    /// <summary>The decoder graph's outputs in fetch order: logits, then each layer's present key and value.</summary>
    public string[] GraphOutputNames()
    {
        var names = new List<string> { Outputs.Logits };
        for (var layer = 0; layer < NumLayers; layer++)
        {
            names.Add(Outputs.PresentKeyOf(layer));
            names.Add(Outputs.PresentValueOf(layer));
        }

        return [.. names];
    }

    /// <summary>The KV tensors' element type, from <see cref="KvElementTypeName"/>.</summary>
    [JsonIgnore]
    public Microsoft.ML.OnnxRuntime.Tensors.TensorElementType KvElementType => KvElementTypeName switch
    {
        "float32" => Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float,
        "float16" => Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16,
        "bfloat16" => Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.BFloat16,
        "int8" => Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int8,
        _ => throw new InvalidDataException($"model {Name}: unsupported KV dtype '{KvElementTypeName}'"),
    };

    /// <summary>Bytes of one KV element (the KV's type, which may differ from the weights' <see cref="Dtype"/>).</summary>
    [JsonIgnore]
    public int ElementSize => KvElementTypeName switch
    {
        "float32" => 4,
        "float16" or "bfloat16" => 2,
        "int8" => 1,
        _ => throw new InvalidDataException($"model {Name}: unsupported KV dtype '{KvElementTypeName}'"),
    };

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static ModelManifest Load(string modelDirectory)
    {
        var path = Path.Combine(modelDirectory, FileName);
        using var stream = File.OpenRead(path);
        var manifest = JsonSerializer.Deserialize<ModelManifest>(stream, JsonOptions)
            ?? throw new InvalidDataException($"{path}: empty manifest");
        manifest.Validate(path);
        return manifest;
    }

    /// <summary>Checks the numbers the engine sizes buffers from; <paramref name="path"/> names the source in errors.</summary>
    internal void Validate(string path)
    {
        static void Require(bool condition, string path, string what)
        {
            if (!condition)
            {
                throw new InvalidDataException($"{path}: {what}");
            }
        }

        Require(NumLayers > 0, path, "num_layers must be positive");
        Require(NumAttentionHeads > 0 && NumKeyValueHeads > 0, path, "head counts must be positive");
        Require(NumAttentionHeads % NumKeyValueHeads == 0, path, "num_attention_heads must be a multiple of num_key_value_heads");
        Require(HeadDim > 0 && VocabSize > 0 && ContextLength > 0, path, "head_dim, vocab_size and context_length must be positive");
        Require(LogitsMode is "last" or "all", path, $"logits_mode must be 'last' or 'all', not '{LogitsMode}'");
        _ = ElementSize;
        // Only GroupQueryAttention quantizes on write; a Concat graph would have no scales to quantize with.
        Require(!KvQuantized || (PastPresentShareBuffer && !string.IsNullOrEmpty(KvScalesFile)), path,
            "an int8 KV needs a shared-buffer (GroupQueryAttention) graph and kv_scales_file");
    }
}

/// <summary>Another graph of a model's weights: its file, KV layout, KV element type and, for a quantized copy, its weights.</summary>
public sealed record ModelVariant
{
    public required string OnnxFile { get; init; }
    public bool PastPresentShareBuffer { get; init; }

    /// <summary>The variant's KV element type (<see cref="ModelManifest.KvDtype"/>); null: the weights' dtype.</summary>
    public string? KvDtype { get; init; }

    /// <summary>The scales of a quantized KV (<see cref="ModelManifest.KvScalesFile"/>).</summary>
    public string? KvScalesFile { get; init; }

    /// <summary>The variant's external-data file; null: the default graph's.</summary>
    public string? WeightsFile { get; init; }

    /// <summary>How the variant's weights are quantized; null: float weights.</summary>
    public WeightQuantization? Quantization { get; init; }
}

/// <summary>
/// Weight-only quantization of a graph (tools/model/quantize.py): "MatMulNBits" is ONNX Runtime's contrib op, with
/// <see cref="Bits"/>-bit codes in blocks of <see cref="BlockSize"/> along K, one float scale (and, unless
/// <see cref="Symmetric"/>, one zero point) a block; <see cref="AccuracyLevel"/> 4 lets the CPU kernel quantize the
/// activations to int8 too.
/// </summary>
public sealed record WeightQuantization
{
    public required string Method { get; init; }
    public required int Bits { get; init; }
    public required int BlockSize { get; init; }
    public int AccuracyLevel { get; init; }
    public bool Symmetric { get; init; }
}

public sealed record TokenizerManifest
{
    /// <summary>
    /// "tiktoken" (named <see cref="Encoding"/> or ranks <see cref="File"/>), "sentencepiece" (a SentencePiece BPE
    /// .model) or "hf-bpe" (a Hugging Face byte-level BPE tokenizer.json).
    /// </summary>
    public required string Kind { get; init; }
    public string? Encoding { get; init; }
    /// <summary>Tokenizer file, relative to the model folder.</summary>
    public string? File { get; init; }
    /// <summary>
    /// Pre-tokenizer regex for a tiktoken ranks file (the file holds only ranks), or an override of the one a
    /// tokenizer.json carries; null takes the format's default.
    /// </summary>
    public string? Pattern { get; init; }
    public IReadOnlyDictionary<string, int> SpecialTokens { get; init; } = new Dictionary<string, int>();
}

public sealed record ModelInputNames
{
    public string InputIds { get; init; } = "input_ids";
    public string AttentionMask { get; init; } = "attention_mask";
    /// <summary>
    /// Null when the graph has no position input: onnxruntime-genai's builder leaves it out when GroupQueryAttention
    /// applies the rotary itself (do_rotary), at positions it derives from the mask's row sums.
    /// </summary>
    public string? PositionIds { get; init; } = "position_ids";
    public string PastKey { get; init; } = "past_key_values.{layer}.key";
    public string PastValue { get; init; } = "past_key_values.{layer}.value";

    public string PastKeyOf(int layer) => PastKey.Replace("{layer}", layer.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    public string PastValueOf(int layer) => PastValue.Replace("{layer}", layer.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
}

public sealed record ModelOutputNames
{
    public string Logits { get; init; } = "logits";
    public string PresentKey { get; init; } = "present.{layer}.key";
    public string PresentValue { get; init; } = "present.{layer}.value";

    public string PresentKeyOf(int layer) => PresentKey.Replace("{layer}", layer.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    public string PresentValueOf(int layer) => PresentValue.Replace("{layer}", layer.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
}
