namespace AutoGlm.Orleans.Inference.Models;

/// <summary>
/// A Hugging Face Optimum ONNX export: config.json (transformers' names, which vary by architecture),
/// generation_config.json, the tokenizer files and model.onnx or decoder_model_merged.onnx.
/// </summary>
internal static class OptimumExportReader
{
    public const string ConfigFile = "config.json";

    private static readonly string[] OnnxFiles = ["model.onnx", "decoder_model_merged.onnx"];

    public static ModelManifest Read(string directory)
    {
        var path = Path.Combine(directory, ConfigFile);
        using var document = ConfigJson.Parse(path);
        var config = document.RootElement;

        var modelType = ConfigJson.String(config, "model_type", path)
            ?? throw new InvalidDataException($"{path}: missing 'model_type'");
        // ChatGLM's remote-code config uses its own names (num_layers, multi_query_group_num, kv_channels, ...).
        var heads = ConfigJson.RequiredInt(config, path, "num_attention_heads", "n_head");
        var hidden = ConfigJson.RequiredInt(config, path, "hidden_size", "n_embd");
        var headDim = ConfigJson.Int(config, path, "head_dim", "kv_channels") ?? HeadDimFromHidden(hidden, heads, path);
        var eos = ModelFolder.Union(
            ConfigJson.IntOrList(config, "eos_token_id", path),
            GenerationEos(directory));

        var manifest = new ModelManifest
        {
            Name = ModelFolder.NameOf(directory),
            Architecture = modelType,
            NumLayers = ConfigJson.RequiredInt(config, path, "num_hidden_layers", "n_layer", "num_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = ConfigJson.Int(config, path, "num_key_value_heads", "multi_query_group_num") ?? heads,
            HeadDim = headDim,
            HiddenSize = hidden,
            VocabSize = ConfigJson.RequiredInt(config, path, "vocab_size", "padded_vocab_size"),
            ContextLength = ConfigJson.RequiredInt(config, path, "max_position_embeddings", "n_positions", "seq_length"),
            // Optimum exports float32 unless told otherwise; config.json's torch_dtype describes the checkpoint,
            // not the graph, so it is deliberately not used.
            Dtype = "float32",
            OnnxFile = OnnxFiles.FirstOrDefault(f => File.Exists(Path.Combine(directory, f)))
                ?? throw new FileNotFoundException(
                    $"{directory}: config.json but neither {string.Join(" nor ", OnnxFiles)}",
                    Path.Combine(directory, OnnxFiles[0])),
            Tokenizer = TokenizerDetector.Detect(directory),
            ChatTemplate = ModelFolder.ChatTemplateFor(modelType, path),
            BosTokenId = ConfigJson.IntOrList(config, "bos_token_id", path) is [var bos, ..] ? bos : null,
            EosTokenId = eos.Count > 0 ? eos[0] : null,
            EndOfTurnTokenIds = eos,
            PadTokenId = ConfigJson.Int(config, path, "pad_token_id"),
            Inputs = new ModelInputNames(),
            Outputs = new ModelOutputNames(),
            LogitsMode = "all",
        };
        manifest.Validate(path);
        return manifest;
    }

    private static int HeadDimFromHidden(int hidden, int heads, string path) =>
        heads > 0 && hidden % heads == 0
            ? hidden / heads
            : throw new InvalidDataException($"{path}: hidden_size {hidden} is not a multiple of {heads} heads and no head_dim is given");

    /// <summary>generation_config.json often lists more stop ids than config.json (Qwen2 adds &lt;|endoftext|&gt;).</summary>
    private static IReadOnlyList<int> GenerationEos(string directory)
    {
        var path = Path.Combine(directory, "generation_config.json");
        if (!File.Exists(path))
        {
            return [];
        }

        using var document = ConfigJson.Parse(path);
        return ConfigJson.IntOrList(document.RootElement, "eos_token_id", path);
    }
}
