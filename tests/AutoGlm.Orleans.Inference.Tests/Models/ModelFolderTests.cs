using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tests.Tokenization;
using AutoGlm.Orleans.Inference.Tokenization;

namespace AutoGlm.Orleans.Inference.Tests.Models;

/// <summary>Manifests derived from Optimum and onnxruntime-genai export folders, with the numbers real models ship.</summary>
public sealed class ModelFolderTests : IDisposable
{
    private const string Qwen2Config = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151645,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    private const string Qwen2GenerationConfig = """
        { "bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643],
          "repetition_penalty": 1.1, "temperature": 0.7, "top_p": 0.8, "top_k": 20 }
        """;

    private const string Glm4GenAiConfig = """
        {
          "model": {
            "bos_token_id": 151331,
            "context_length": 131072,
            "decoder": {
              "session_options": { "log_id": "onnxruntime-genai", "provider_options": [ { "cuda": { "enable_cuda_graph": "0" } } ] },
              "filename": "model.onnx",
              "head_size": 128,
              "hidden_size": 4096,
              "inputs": {
                "input_ids": "input_ids",
                "attention_mask": "attention_mask",
                "position_ids": "position_ids",
                "past_key_names": "past_key_values.%d.key",
                "past_value_names": "past_key_values.%d.value"
              },
              "outputs": {
                "logits": "logits",
                "present_key_names": "present.%d.key",
                "present_value_names": "present.%d.value"
              },
              "num_attention_heads": 32,
              "num_hidden_layers": 40,
              "num_key_value_heads": 2
            },
            "eos_token_id": [151329, 151336, 151338],
            "pad_token_id": 151329,
            "type": "chatglm",
            "vocab_size": 151552
          },
          "search": { "do_sample": false, "max_length": 131072, "num_beams": 1, "past_present_share_buffer": true }
        }
        """;

    private const string Glm4TokenizerConfig = """
        {
          "added_tokens_decoder": {
            "151329": { "content": "<|endoftext|>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true },
            "151331": { "content": "[gMASK]", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true },
            "151336": { "content": "<|user|>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true }
          },
          "tokenizer_class": "ChatGLM4Tokenizer"
        }
        """;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private void Write(string name, string content) => File.WriteAllText(_dir.File(name), content);

    private void Touch(string name) => File.WriteAllBytes(_dir.File(name), []);

    [Fact]
    public void Optimum_qwen2_export()
    {
        Write("config.json", Qwen2Config);
        Write("generation_config.json", Qwen2GenerationConfig);
        Touch("model.onnx");
        TinyTokenizerFiles.WriteTokenizerJson(_dir.File("tokenizer.json"), mergesAsPairs: true);

        var m = ModelFolder.Load(_dir.Path);

        Assert.Equal(Path.GetFileName(_dir.Path), m.Name);
        Assert.Equal("qwen2", m.Architecture);
        Assert.Equal(24, m.NumLayers);
        Assert.Equal(14, m.NumAttentionHeads);
        Assert.Equal(2, m.NumKeyValueHeads);
        Assert.Equal(64, m.HeadDim);
        Assert.Equal(896, m.HiddenSize);
        Assert.Equal(151936, m.VocabSize);
        Assert.Equal(32768, m.ContextLength);
        Assert.Equal("float32", m.Dtype);
        Assert.Equal("model.onnx", m.OnnxFile);
        Assert.Equal("chatml", m.ChatTemplate);
        Assert.Equal("all", m.LogitsMode);
        Assert.Equal(151643, m.BosTokenId);
        Assert.Equal(151645, m.EosTokenId);
        Assert.Equal([151645, 151643], m.EndOfTurnTokenIds);
        Assert.Null(m.PadTokenId);
        Assert.Equal("hf-bpe", m.Tokenizer.Kind);
        Assert.Equal("tokenizer.json", m.Tokenizer.File);
        Assert.Equal("past_key_values.23.key", m.Inputs.PastKeyOf(23));
        Assert.Equal("present.0.value", m.Outputs.PresentValueOf(0));
        Assert.Equal(24L * 2 * 2 * 64 * 4, m.KvBytesPerToken);
        Assert.Equal(24576, m.KvBytesPerToken);
    }

    [Fact]
    public void GenAi_glm4_export()
    {
        Write("genai_config.json", Glm4GenAiConfig);
        Write("tokenizer_config.json", Glm4TokenizerConfig);
        Touch("model.onnx");
        TinyTokenizerFiles.WriteTiktokenRanks(_dir.File("tokenizer.model"));

        var m = ModelFolder.Load(_dir.Path);

        Assert.Equal("chatglm", m.Architecture);
        Assert.Equal(40, m.NumLayers);
        Assert.Equal(32, m.NumAttentionHeads);
        Assert.Equal(2, m.NumKeyValueHeads);
        Assert.Equal(128, m.HeadDim);
        Assert.Equal(4096, m.HiddenSize);
        Assert.Equal(151552, m.VocabSize);
        Assert.Equal(131072, m.ContextLength);
        Assert.Equal("float16", m.Dtype);
        Assert.Equal("glm4", m.ChatTemplate);
        Assert.Equal("all", m.LogitsMode);
        Assert.Equal(151331, m.BosTokenId);
        Assert.Equal(151329, m.EosTokenId);
        Assert.Equal([151329, 151336, 151338], m.EndOfTurnTokenIds);
        Assert.Equal(151329, m.PadTokenId);
        Assert.Equal("past_key_values.{layer}.key", m.Inputs.PastKey);
        Assert.Equal("past_key_values.39.value", m.Inputs.PastValueOf(39));
        Assert.Equal("present.7.key", m.Outputs.PresentKeyOf(7));
        Assert.Equal(40L * 2 * 2 * 128 * 2, m.KvBytesPerToken);

        Assert.Equal("tiktoken", m.Tokenizer.Kind);
        Assert.Equal("tokenizer.model", m.Tokenizer.File);
        Assert.Equal(151336, m.Tokenizer.SpecialTokens["<|user|>"]);
        var tokenizer = TokenizerLoader.Load(m.Tokenizer, _dir.Path);
        Assert.Equal([151331, TinyTokenizerFiles.Hello, 151336], tokenizer.EncodeToIds("[gMASK]hello<|user|>"));
    }

    [Fact]
    public void GenAi_cpu_export_keeps_float32_and_custom_names()
    {
        Write("genai_config.json", Glm4GenAiConfig
            .Replace("""{ "cuda": { "enable_cuda_graph": "0" } }""", "{ }", StringComparison.Ordinal)
            .Replace("past_key_values.%d.key", "past.%d.k", StringComparison.Ordinal)
            .Replace("\"model.onnx\"", "\"glm4-int4-cpu.onnx\"", StringComparison.Ordinal));
        Touch("glm4-int4-cpu.onnx");
        TinyTokenizerFiles.WriteTiktokenRanks(_dir.File("tokenizer.model"));

        var m = ModelFolder.Load(_dir.Path);

        Assert.Equal("float32", m.Dtype);
        Assert.Equal("glm4-int4-cpu.onnx", m.OnnxFile);
        Assert.Equal("past.5.k", m.Inputs.PastKeyOf(5));
        Assert.Equal(40L * 2 * 2 * 128 * 4, m.KvBytesPerToken);
        Assert.Empty(m.Tokenizer.SpecialTokens);
    }

    [Fact]
    public void Optimum_gpt2_names_and_merged_decoder()
    {
        Write("config.json", """
            { "model_type": "gpt2", "n_layer": 6, "n_head": 4, "n_embd": 128, "n_positions": 1024,
              "vocab_size": 50257, "bos_token_id": 50256, "eos_token_id": 50256 }
            """);
        Touch("decoder_model_merged.onnx");
        TinyTokenizerFiles.WriteTokenizerJson(_dir.File("tokenizer.json"), mergesAsPairs: false);

        var m = ModelFolder.Load(_dir.Path);

        Assert.Equal("tiny-chat", m.ChatTemplate);
        Assert.Equal("decoder_model_merged.onnx", m.OnnxFile);
        Assert.Equal((6, 4, 4, 32, 128, 1024), (m.NumLayers, m.NumAttentionHeads, m.NumKeyValueHeads, m.HeadDim, m.HiddenSize, m.ContextLength));
        Assert.Equal([50256], m.EndOfTurnTokenIds);
        Assert.Equal(6L * 2 * 4 * 32 * 4, m.KvBytesPerToken);
    }

    [Fact]
    public void Llama_with_a_sentencepiece_model()
    {
        Write("config.json", """
            { "model_type": "llama", "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
              "hidden_size": 2048, "max_position_embeddings": 2048, "vocab_size": 32000,
              "bos_token_id": 1, "eos_token_id": 2 }
            """);
        Touch("model.onnx");
        TinySentencePieceModel.Write(_dir.File("tokenizer.model"));

        var m = ModelFolder.Load(_dir.Path);

        Assert.Equal("sentencepiece", m.Tokenizer.Kind);
        Assert.Equal("llama3", m.ChatTemplate);
        Assert.Equal(64, m.HeadDim);
        Assert.Equal(22L * 2 * 4 * 64 * 4, m.KvBytesPerToken);
    }

    [Fact]
    public void Model_json_wins()
    {
        var m = ModelFolder.Load(RepositoryPaths.DefaultModel);
        Assert.Equal("tiny-chat", m.Name);
        Assert.Equal("last", m.LogitsMode);
    }

    [Fact]
    public void A_missing_folder_is_reported()
    {
        var missing = _dir.File("absent");
        var error = Assert.Throws<DirectoryNotFoundException>(() => ModelFolder.Load(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_without_any_config_is_reported()
    {
        var error = Assert.Throws<FileNotFoundException>(() => ModelFolder.Load(_dir.Path));
        Assert.Contains("config.json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_json_is_reported_by_file()
    {
        Write("config.json", "{ \"model_type\": ");
        var error = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(_dir.Path));
        Assert.Contains(_dir.File("config.json"), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_number_is_named()
    {
        Write("config.json", Qwen2Config.Replace("\"num_hidden_layers\": 24,", "", StringComparison.Ordinal));
        Touch("model.onnx");
        TinyTokenizerFiles.WriteTokenizerJson(_dir.File("tokenizer.json"), mergesAsPairs: true);
        var error = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(_dir.Path));
        Assert.Contains("num_hidden_layers", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wrongly_typed_number_is_named()
    {
        Write("config.json", Qwen2Config.Replace("\"num_attention_heads\": 14", "\"num_attention_heads\": \"14\"", StringComparison.Ordinal));
        Touch("model.onnx");
        TinyTokenizerFiles.WriteTokenizerJson(_dir.File("tokenizer.json"), mergesAsPairs: true);
        var error = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(_dir.Path));
        Assert.Contains("num_attention_heads", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_model_type_asks_for_a_model_json()
    {
        Write("config.json", Qwen2Config.Replace("\"qwen2\"", "\"mamba\"", StringComparison.Ordinal));
        Touch("model.onnx");
        TinyTokenizerFiles.WriteTokenizerJson(_dir.File("tokenizer.json"), mergesAsPairs: true);
        var error = Assert.Throws<InvalidDataException>(() => ModelFolder.Load(_dir.Path));
        Assert.Contains("mamba", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_graph_or_tokenizer_files_are_reported()
    {
        Write("config.json", Qwen2Config);
        Assert.Contains("model.onnx", Assert.Throws<FileNotFoundException>(() => ModelFolder.Load(_dir.Path)).Message, StringComparison.Ordinal);

        Touch("model.onnx");
        Assert.Contains("tokenizer", Assert.Throws<FileNotFoundException>(() => ModelFolder.Load(_dir.Path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_genai_decoder_file_that_is_missing_is_reported()
    {
        Write("genai_config.json", Glm4GenAiConfig);
        var error = Assert.Throws<FileNotFoundException>(() => ModelFolder.Load(_dir.Path));
        Assert.Equal(_dir.File("model.onnx"), error.FileName);
    }
}
