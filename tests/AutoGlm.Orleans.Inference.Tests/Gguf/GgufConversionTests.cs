using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tokenization;

namespace AutoGlm.Orleans.Inference.Tests.Gguf;

/// <summary>
/// tools/model/to_gguf.py (the converter the llama.cpp benchmark peer runs on) writes a few tensors of the default
/// model in f32 and q8_0, and each file is read back here with a reader of its own: the metadata llama.cpp's gpt2
/// loader reads, a vocabulary and merges that tokenize as our engine's tokenizer does, a chat template that renders
/// what our template renders (through jinja2, as Hugging Face and llama.cpp's minja run it), and tensors that hold the
/// bytes our engine loads (f32) or their q8_0 blocks. CI builds no llama.cpp: its own checks are build.sh --check.
/// </summary>
public sealed class GgufConversionTests(GgufConversionTests.Conversion conversion) : IClassFixture<GgufConversionTests.Conversion>
{
    private const string EndOfText = "<|endoftext|>";
    private static readonly string[] FewTensors =
        ["token_embd.weight", "position_embd.weight", "blk.0.attn_qkv.weight", "blk.0.attn_qkv.bias", "output_norm.weight"];

    private static ModelManifest Manifest => ModelFolder.Load(RepositoryPaths.DefaultModel);

    [Fact]
    public void Metadata_is_what_llama_cpp_reads_for_a_gpt2_model()
    {
        var m = Manifest;
        foreach (var (file, fileType) in new[] { (conversion.F32, 0u), (conversion.Q8, 7u) })
        {
            Assert.Equal(3u, file.Version);
            Assert.Equal("gpt2", file.Get<string>("general.architecture"));
            Assert.Equal(fileType, file.Get<uint>("general.file_type"));
            Assert.Equal((uint)m.NumLayers, file.Get<uint>("gpt2.block_count"));
            Assert.Equal((uint)m.ContextLength, file.Get<uint>("gpt2.context_length"));
            Assert.Equal((uint)m.HiddenSize, file.Get<uint>("gpt2.embedding_length"));
            Assert.Equal((uint)(4 * m.HiddenSize), file.Get<uint>("gpt2.feed_forward_length"));
            Assert.Equal((uint)m.NumAttentionHeads, file.Get<uint>("gpt2.attention.head_count"));
            Assert.Equal(1e-5f, file.Get<float>("gpt2.attention.layer_norm_epsilon"), 1e-9f);
            Assert.Equal("gpt2", file.Get<string>("tokenizer.ggml.model"));
            Assert.Equal("gpt-2", file.Get<string>("tokenizer.ggml.pre"));
            Assert.Equal((uint)m.EosTokenId!.Value, file.Get<uint>("tokenizer.ggml.eos_token_id"));
            Assert.Equal((uint)m.EndOfTurnTokenIds[0], file.Get<uint>("tokenizer.ggml.eot_id"));
            // Our prompts have no BOS: llama.cpp must not add one.
            Assert.False(file.Get<bool>("tokenizer.ggml.add_bos_token"));

            var tokens = file.Array<string>("tokenizer.ggml.tokens");
            var types = file.Array<int>("tokenizer.ggml.token_type");
            Assert.Equal(m.VocabSize, tokens.Length);
            Assert.Equal(EndOfText, tokens[m.EosTokenId.Value]);
            // Normal tokens, and the end-of-text one as a control token (llama.cpp then treats it as end of generation).
            int[] expectedTypes = [.. Enumerable.Repeat(1, m.VocabSize - 1), 3];
            Assert.Equal(expectedTypes, types);
            Assert.Equal(m.VocabSize - 1 - 256, file.Array<string>("tokenizer.ggml.merges").Length);
        }
    }

    [Fact]
    public void Vocabulary_and_merges_tokenize_every_text_as_our_engine_does()
    {
        var ours = TokenizerLoader.Load(Manifest.Tokenizer, RepositoryPaths.DefaultModel);
        var theirs = conversion.TokenizerFromGguf();
        var reference = ReferenceFile.Load(RepositoryPaths.DefaultModel);
        foreach (var r in reference.References)
        {
            Assert.Equal(r.PromptIds, theirs.EncodeToIds(r.Prompt));
        }

        // More text than the prompts: the model card (dashes, ellipses, backticks, markdown) and the engine's docs.
        var texts = reference.References.Select(r => r.GreedyText)
            .Append(File.ReadAllText(Path.Combine(RepositoryPaths.DefaultModel, "README.md")))
            .Append(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "engine.md")));
        foreach (var text in texts)
        {
            Assert.Equal(ours.EncodeToIds(text), theirs.EncodeToIds(text));
        }
    }

    [Fact]
    public async Task Chat_template_renders_our_template_through_jinja()
    {
        using var reference = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryPaths.DefaultModel, "reference.json"), Ct));
        var conversations = reference.RootElement.GetProperty("references").EnumerateArray()
            .Select(r => r.GetProperty("messages").Deserialize<List<Dictionary<string, string>>>()!).ToList();
        conversations.Add([new() { ["role"] = "system", ["content"] = "Be brief." }, new() { ["role"] = "user", ["content"] = "Hi" }]);
        conversations.Add([new() { ["role"] = "user", ["content"] = "{{ not a tag }} 'q' \"qq\" \\ \n" }, new() { ["role"] = "assistant", ["content"] = "" }]);
        var cases = conversations.SelectMany(c => new[] { (c, true), (c, false) }).ToList();

        var input = new JsonObject
        {
            ["template"] = conversion.F32.Get<string>("tokenizer.chat_template"),
            ["cases"] = new JsonArray([.. cases.Select(c => (JsonNode?)new JsonArray(JsonSerializer.SerializeToNode(c.Item1), c.Item2))]),
        };
        const string render = """
            import json, sys
            from jinja2.sandbox import ImmutableSandboxedEnvironment
            data = json.load(sys.stdin)
            # Hugging Face's apply_chat_template environment, which llama.cpp's minja follows.
            template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(data["template"])
            print(json.dumps([template.render(messages=m, add_generation_prompt=g) for m, g in data["cases"]]))
            """;
        var output = await Python.RunAsync(["-c", render], input.ToJsonString(), TimeSpan.FromSeconds(30), Ct);
        var rendered = JsonSerializer.Deserialize<string[]>(output)!;

        Assert.Equal(cases.Count, rendered.Length);
        for (var i = 0; i < cases.Count; i++)
        {
            var (messages, generationPrompt) = cases[i];
            var chat = messages.Select(m => new ChatMessage(Enum.Parse<ChatRole>(m["role"], ignoreCase: true), m["content"])).ToList();
            Assert.Equal(TinyChatTemplate.Instance.Render(chat, generationPrompt), rendered[i]);
        }
    }

    [Fact]
    public void Tensors_hold_the_weights_our_engine_loads_in_f32_and_their_q8_0_blocks()
    {
        var m = Manifest;
        var weights = File.ReadAllBytes(Path.Combine(RepositoryPaths.DefaultModel, "model.weights"));
        var onnx = Path.Combine(RepositoryPaths.DefaultModel, m.OnnxFile);
        ReadOnlySpan<byte> Source(string name)
        {
            var (offset, length) = OnnxExternalData.Locate(onnx, name);
            return weights.AsSpan((int)offset, length);
        }

        foreach (var file in new[] { conversion.F32, conversion.Q8 })
        {
            Assert.Equal(FewTensors, file.Tensors.Select(t => t.Name));
            long end = 0;
            foreach (var tensor in file.Tensors)
            {
                Assert.Equal(0ul, tensor.Offset % 32);
                Assert.True((long)tensor.Offset >= end, $"{tensor.Name} overlaps the tensor before it");
                end = (long)tensor.Offset + tensor.ByteCount;
            }

            Assert.Equal(new FileInfo(conversion.FilePath(file)).Length, file.DataStart + ((end + 31) / 32 * 32));
            // ne[0] first: a row of the embedding is one token's vector, a row of a weight one output's inputs.
            Assert.Equal(new[] { (ulong)m.HiddenSize, (ulong)m.VocabSize }, file.Tensor("token_embd.weight").Dims);
            Assert.Equal(new[] { (ulong)m.HiddenSize, (ulong)(3 * m.HiddenSize) }, file.Tensor("blk.0.attn_qkv.weight").Dims);
            Assert.Equal(new[] { (ulong)(3 * m.HiddenSize) }, file.Tensor("blk.0.attn_qkv.bias").Dims);
            // The position table is added, never multiplied: f32 in every file, as llama.cpp's converter keeps it.
            Assert.Equal(GgufTensor.F32, file.Tensor("position_embd.weight").Type);
            Assert.Equal(GgufTensor.F32, file.Tensor("blk.0.attn_qkv.bias").Type);
            Assert.True(Source("model.wpe.weight").SequenceEqual(file.Data(file.Tensor("position_embd.weight"))));
        }

        Assert.True(Source("model.wte.weight").SequenceEqual(conversion.F32.Data(conversion.F32.Tensor("token_embd.weight"))));
        Assert.True(Source("model.h.0.attn.c_attn.weight").SequenceEqual(conversion.F32.Data(conversion.F32.Tensor("blk.0.attn_qkv.weight"))));

        foreach (var (name, source) in new[] { ("token_embd.weight", "model.wte.weight"), ("blk.0.attn_qkv.weight", "model.h.0.attn.c_attn.weight") })
        {
            var tensor = conversion.Q8.Tensor(name);
            Assert.Equal(GgufTensor.Q8_0, tensor.Type);
            AssertQ8Blocks(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Source(source)), conversion.Q8.Data(tensor), name);
        }
    }

    /// <summary>Each block: d = max |x| / 127 as a half, and every value within half a step of its quantized one.</summary>
    private static void AssertQ8Blocks(ReadOnlySpan<float> values, ReadOnlySpan<byte> blocks, string name)
    {
        Assert.Equal(values.Length / 32 * 34, blocks.Length);
        for (var b = 0; b < values.Length / 32; b++)
        {
            var block = values.Slice(b * 32, 32);
            var d = (float)BitConverter.ToHalf(blocks.Slice(b * 34, 2));
            var max = 0f;
            foreach (var x in block)
            {
                max = Math.Max(max, Math.Abs(x));
            }

            var step = max / 127;
            Assert.Equal((float)(Half)step, d);
            for (var i = 0; i < 32; i++)
            {
                var q = (sbyte)blocks[(b * 34) + 2 + i];
                // Rounded with the exact step, restored with the half-precision one: half a step plus the half's rounding.
                Assert.True(Math.Abs((q * d) - block[i]) <= (step / 2) + (127 * Math.Abs(d - step)) + (1e-6f * max),
                    $"{name} block {b} value {i}: {block[i]} stored as {q} x {d}");
            }
        }
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>One conversion for the class: the r50k ranks our engine serves with, then to_gguf.py in f32 and q8_0.</summary>
    public sealed class Conversion : IAsyncLifetime
    {
        private readonly TempDirectory _dir = new();

        public GgufFile F32 { get; private set; } = null!;

        public GgufFile Q8 { get; private set; } = null!;

        public string FilePath(GgufFile file) => _dir.File(file == F32 ? "tiny-chat.f32.gguf" : "tiny-chat.q8_0.gguf");

        public async ValueTask InitializeAsync()
        {
            // The rank file tools/model/DumpRanks writes: the data package our tokenizer loads r50k_base from.
            var ranks = _dir.File("r50k_base.tiktoken");
            using (var compressed = Assembly.Load("Microsoft.ML.Tokenizers.Data.R50kBase").GetManifestResourceStream("r50k_base.tiktoken.deflate")!)
            using (var inflated = new DeflateStream(compressed, CompressionMode.Decompress))
            using (var output = File.Create(ranks))
            {
                await inflated.CopyToAsync(output);
            }

            await Python.RunAsync(
            [
                Path.Combine(RepositoryPaths.Root, "tools", "model", "to_gguf.py"), "--model", RepositoryPaths.DefaultModel, "--ranks", ranks,
                "--out-dir", _dir.Path, "--types", "f32,q8_0", "--only", string.Join(',', FewTensors),
            ], null, TimeSpan.FromSeconds(60), CancellationToken.None);
            F32 = GgufFile.Read(_dir.File("tiny-chat.f32.gguf"));
            Q8 = GgufFile.Read(_dir.File("tiny-chat.q8_0.gguf"));
        }

        /// <summary>The file's vocabulary and merges as a Hugging Face tokenizer.json (GPT-2's byte-level BPE), loaded by our loader.</summary>
        public Microsoft.ML.Tokenizers.Tokenizer TokenizerFromGguf()
        {
            var tokens = F32.Array<string>("tokenizer.ggml.tokens");
            var types = F32.Array<int>("tokenizer.ggml.token_type");
            var vocab = new JsonObject();
            var added = new JsonArray();
            for (var id = 0; id < tokens.Length; id++)
            {
                if (types[id] == 3)
                {
                    added.Add(new JsonObject { ["id"] = id, ["content"] = tokens[id], ["special"] = true });
                }

                vocab[tokens[id]] = id;
            }

            var json = new JsonObject
            {
                ["model"] = new JsonObject
                {
                    ["type"] = "BPE", ["vocab"] = vocab,
                    ["merges"] = new JsonArray([.. F32.Array<string>("tokenizer.ggml.merges").Select(s => (JsonNode?)s)]),
                },
                ["added_tokens"] = added,
                ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
                ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            };
            var path = _dir.File("tokenizer.json");
            File.WriteAllText(path, json.ToJsonString());
            return HuggingFaceBpeLoader.Load(path);
        }

        public ValueTask DisposeAsync()
        {
            _dir.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
