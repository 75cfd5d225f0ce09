using System.Text.Json;

namespace AutoGlm.Orleans.Inference.Models;

/// <summary>
/// An onnxruntime-genai export: genai_config.json names the decoder graph, its tensors ("past_key_values.%d.key")
/// and the numbers the KV cache is sized from.
/// </summary>
internal static class GenAiExportReader
{
    public const string ConfigFile = "genai_config.json";

    public static ModelManifest Read(string directory)
    {
        var path = Path.Combine(directory, ConfigFile);
        using var document = ConfigJson.Parse(path);
        var model = ConfigJson.Object(document.RootElement, "model", path)
            ?? throw new InvalidDataException($"{path}: missing 'model'");
        var decoder = ConfigJson.Object(model, "decoder", path)
            ?? throw new InvalidDataException($"{path}: missing 'model.decoder'");

        var modelType = ConfigJson.String(model, "type", path)
            ?? throw new InvalidDataException($"{path}: missing 'model.type'");
        var onnxFile = ConfigJson.String(decoder, "filename", path)
            ?? throw new InvalidDataException($"{path}: missing 'model.decoder.filename'");
        if (!File.Exists(Path.Combine(directory, onnxFile)))
        {
            throw new FileNotFoundException($"{path}: decoder file {onnxFile} not found", Path.Combine(directory, onnxFile));
        }

        var heads = ConfigJson.RequiredInt(decoder, path, "num_attention_heads");
        var eos = ConfigJson.IntOrList(model, "eos_token_id", path);
        var inputs = ConfigJson.Object(decoder, "inputs", path);
        var outputs = ConfigJson.Object(decoder, "outputs", path);
        var defaultInputs = new ModelInputNames();
        var defaultOutputs = new ModelOutputNames();

        var manifest = new ModelManifest
        {
            Name = ModelFolder.NameOf(directory),
            Architecture = modelType,
            NumLayers = ConfigJson.RequiredInt(decoder, path, "num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = ConfigJson.Int(decoder, path, "num_key_value_heads") ?? heads,
            HeadDim = ConfigJson.RequiredInt(decoder, path, "head_size"),
            HiddenSize = ConfigJson.RequiredInt(decoder, path, "hidden_size"),
            VocabSize = ConfigJson.RequiredInt(model, path, "vocab_size"),
            ContextLength = ConfigJson.RequiredInt(model, path, "context_length"),
            Dtype = IoDtype(decoder, path),
            OnnxFile = onnxFile,
            Tokenizer = TokenizerDetector.Detect(directory),
            ChatTemplate = ModelFolder.ChatTemplateFor(modelType, path),
            BosTokenId = ConfigJson.IntOrList(model, "bos_token_id", path) is [var bos, ..] ? bos : null,
            EosTokenId = eos.Count > 0 ? eos[0] : null,
            EndOfTurnTokenIds = eos,
            PadTokenId = ConfigJson.IntOrList(model, "pad_token_id", path) is [var pad, ..] ? pad : null,
            Inputs = new ModelInputNames
            {
                InputIds = Name(inputs, "input_ids", defaultInputs.InputIds, path),
                AttentionMask = Name(inputs, "attention_mask", defaultInputs.AttentionMask, path),
                // The builder lists only the inputs the graph has: no position_ids when the rotary is inside
                // GroupQueryAttention. Without an inputs object at all, the usual three are assumed.
                PositionIds = inputs is null ? defaultInputs.PositionIds : OptionalName(inputs.Value, "position_ids", path),
                PastKey = Name(inputs, "past_key_names", defaultInputs.PastKey, path),
                PastValue = Name(inputs, "past_value_names", defaultInputs.PastValue, path),
            },
            Outputs = new ModelOutputNames
            {
                Logits = Name(outputs, "logits", defaultOutputs.Logits, path),
                PresentKey = Name(outputs, "present_key_names", defaultOutputs.PresentKey, path),
                PresentValue = Name(outputs, "present_value_names", defaultOutputs.PresentValue, path),
            },
            LogitsMode = "all",
            PastPresentShareBuffer = SharesBuffer(document.RootElement),
        };
        manifest.Validate(path);
        return manifest;
    }

    /// <summary>genai writes per-layer names printf-style ("present.%d.key"); ours use "{layer}".</summary>
    private static string Name(JsonElement? names, string key, string fallback, string path) =>
        names is { } n && ConfigJson.String(n, key, path) is { Length: > 0 } name
            ? name.Replace("%d", "{layer}", StringComparison.Ordinal)
            : fallback;

    private static string? OptionalName(JsonElement names, string key, string path) =>
        ConfigJson.String(names, key, path) is { Length: > 0 } name ? name : null;

    /// <summary>search.past_present_share_buffer: the graph writes KV in place (GroupQueryAttention).</summary>
    private static bool SharesBuffer(JsonElement root) =>
        root.TryGetProperty("search", out var search) && search.ValueKind == JsonValueKind.Object
        && search.TryGetProperty("past_present_share_buffer", out var share) && share.ValueKind == JsonValueKind.True;

    /// <summary>
    /// genai_config.json does not state the KV dtype. Its model builder keeps inputs and cache in float32 for CPU
    /// and in float16 for GPU providers, so the provider the export was built for decides.
    /// </summary>
    private static string IoDtype(JsonElement decoder, string path)
    {
        if (ConfigJson.Object(decoder, "session_options", path) is { } options
            && options.TryGetProperty("provider_options", out var providers)
            && providers.ValueKind == JsonValueKind.Array)
        {
            foreach (var provider in providers.EnumerateArray())
            {
                if (provider.ValueKind == JsonValueKind.Object
                    && provider.EnumerateObject().Any(p => p.Name is "cuda" or "dml" or "rocm" or "webgpu"))
                {
                    return "float16";
                }
            }
        }

        return "float32";
    }
}
