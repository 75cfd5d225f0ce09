using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks.OrtGenAI;

/// <summary>
/// Writes the genai_config.json ONNX Runtime GenAI needs for one of our model folders, into a temporary folder
/// next to links to the model's ONNX graph and its external weights (the model folder itself is never written). The numbers come from our
/// model.json; the search options make it generate like the other systems: greedy, and no end of sequence
/// (min_length = max_length = the context, so every reply runs to the token count the workload asks for).
/// </summary>
internal static class GenAiConfig
{
    /// <summary>A folder the model builder wrote (genai_config.json, no model.json of ours), e.g. a family export's gqa/.</summary>
    public static bool IsGenAiExport(string modelPath) =>
        !File.Exists(Path.Combine(modelPath, "model.json")) && File.Exists(Path.Combine(modelPath, "genai_config.json"));

    /// <summary>Whether the graph writes its KV in place (model.json's or genai_config.json's past_present_share_buffer).</summary>
    public static bool SharesBuffer(string modelPath) => IsGenAiExport(modelPath)
        ? JsonNode.Parse(File.ReadAllText(Path.Combine(modelPath, "genai_config.json")))?["search"]?["past_present_share_buffer"]?.GetValue<bool>() ?? false
        : JsonNode.Parse(File.ReadAllText(Path.Combine(modelPath, "model.json")))?["past_present_share_buffer"]?.GetValue<bool>() ?? false;

    public static DirectoryInfo Write(string modelPath, int contextLength, int intraOpThreads)
    {
        if (IsGenAiExport(modelPath))
        {
            return WriteFromExport(modelPath, contextLength, intraOpThreads);
        }

        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(modelPath, "model.json")))!.AsObject();
        int Int(string key) => manifest[key]!.GetValue<int>();
        string Name(string group, string key) => manifest[group]![key]!.GetValue<string>().Replace("{layer}", "%d", StringComparison.Ordinal);
        var onnxFile = manifest["onnx_file"]!.GetValue<string>();
        var eos = manifest["eos_token_id"]!.GetValue<int>();

        // A GroupQueryAttention graph writes KV in place; GenAI then keeps one max-length buffer per generator,
        // as our engine keeps one block per sequence.
        var shareBuffer = manifest["past_present_share_buffer"]?.GetValue<bool>() ?? false;

        var folder = Directory.CreateTempSubdirectory("autoglm-ortgenai-");
        File.CreateSymbolicLink(Path.Combine(folder.FullName, onnxFile), Path.GetFullPath(Path.Combine(modelPath, onnxFile)));
        // ONNX Runtime resolves external weights next to the graph's path, which is the link.
        foreach (var weights in Directory.EnumerateFiles(modelPath, "*.weights").Concat(Directory.EnumerateFiles(modelPath, "*.data")))
        {
            File.CreateSymbolicLink(Path.Combine(folder.FullName, Path.GetFileName(weights)), Path.GetFullPath(weights));
        }
        var config = new JsonObject
        {
            ["model"] = new JsonObject
            {
                // "decoder": GenAI's generic decoder-only model (separate past key/value tensors per layer, as ours).
                // Its "gpt2" type expects one combined past_%d tensor per layer, which our export does not have.
                ["type"] = "decoder",
                ["context_length"] = contextLength,
                ["vocab_size"] = Int("vocab_size"),
                ["bos_token_id"] = eos,
                ["eos_token_id"] = eos,
                // No pad id of ours may appear in a prompt: GenAI masks pad tokens out of the attention, and our
                // end-of-turn token (the model's pad) closes every reply in the history.
                ["pad_token_id"] = -1,
                ["decoder"] = new JsonObject
                {
                    ["filename"] = onnxFile,
                    ["num_hidden_layers"] = Int("num_layers"),
                    ["num_attention_heads"] = Int("num_attention_heads"),
                    ["num_key_value_heads"] = Int("num_key_value_heads"),
                    ["head_size"] = Int("head_dim"),
                    ["hidden_size"] = Int("hidden_size"),
                    ["session_options"] = new JsonObject
                    {
                        ["log_id"] = "onnxruntime-genai",
                        ["intra_op_num_threads"] = intraOpThreads,
                        ["provider_options"] = new JsonArray(),
                    },
                    ["inputs"] = new JsonObject
                    {
                        ["input_ids"] = Name("inputs", "input_ids"),
                        ["attention_mask"] = Name("inputs", "attention_mask"),
                        ["position_ids"] = Name("inputs", "position_ids"),
                        ["past_key_names"] = Name("inputs", "past_key"),
                        ["past_value_names"] = Name("inputs", "past_value"),
                    },
                    ["outputs"] = new JsonObject
                    {
                        ["logits"] = Name("outputs", "logits"),
                        ["present_key_names"] = Name("outputs", "present_key"),
                        ["present_value_names"] = Name("outputs", "present_value"),
                    },
                },
            },
            ["search"] = new JsonObject
            {
                ["do_sample"] = false,
                ["num_beams"] = 1,
                ["num_return_sequences"] = 1,
                ["max_length"] = contextLength,
                ["min_length"] = contextLength,
                ["temperature"] = 1.0,
                ["top_k"] = 1,
                ["top_p"] = 1.0,
                ["repetition_penalty"] = 1.0,
                ["past_present_share_buffer"] = shareBuffer,
            },
        };
        File.WriteAllText(Path.Combine(folder.FullName, "genai_config.json"),
            config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return folder;
    }

    /// <summary>
    /// The export's own genai_config.json (its model type, tensor names and graph), with the search options and
    /// threads the other systems run with, beside links to every other file of the folder.
    /// </summary>
    private static DirectoryInfo WriteFromExport(string modelPath, int contextLength, int intraOpThreads)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(modelPath, "genai_config.json")))!.AsObject();
        var folder = Directory.CreateTempSubdirectory("autoglm-ortgenai-");
        foreach (var file in Directory.EnumerateFiles(modelPath).Where(f => Path.GetFileName(f) != "genai_config.json"))
        {
            File.CreateSymbolicLink(Path.Combine(folder.FullName, Path.GetFileName(file)), Path.GetFullPath(file));
        }

        var model = config["model"]!.AsObject();
        // As above: no pad id may mask a prompt token (a family's pad is one of its end-of-turn tokens).
        model["pad_token_id"] = -1;
        model["context_length"] = contextLength;
        var options = model["decoder"]!["session_options"]!.AsObject();
        options["intra_op_num_threads"] = intraOpThreads;
        var search = config["search"]!.AsObject();
        search["do_sample"] = false;
        search["num_beams"] = 1;
        search["max_length"] = contextLength;
        search["min_length"] = contextLength;
        search["top_k"] = 1;
        File.WriteAllText(Path.Combine(folder.FullName, "genai_config.json"),
            config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return folder;
    }
}
