using System.Security.Cryptography;
using System.Text.Json;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// The int8kv variant: the shared-buffer graph whose GroupQueryAttention stores K/V as int8 with per-channel scales
/// (tools/model/kvquant.py). A quarter of float32's bytes per token; teacher-forced greedy tokens agree with float32's
/// on the reference prompts and on held-out conversations (validation.jsonl) at 95 % or more, the held-out perplexity
/// within 1 % of float32's; scales that clip fail that bar. Its snapshots move only between engines with the same
/// scales, round-trip byte-exact, and restore from the tier like float KV.
/// </summary>
public sealed class KvInt8Tests(KvInt8Tests.ScoresFixture scores, ITestOutputHelper output) : IClassFixture<KvInt8Tests.ScoresFixture>
{
    private const double MinAgreement = 0.95;
    private const double MaxPerplexityRatio = 1.01;

    [Fact]
    public void The_variant_keeps_a_quarter_of_float32s_bytes_per_token_and_is_identified_by_its_scales()
    {
        var fp32 = ModelFolder.Load(RepositoryPaths.DefaultModel);
        var int8 = fp32.WithVariant(KvLayouts.Int8);
        Assert.Equal(TensorElementType.Int8, int8.KvElementType);
        Assert.Equal(1, int8.ElementSize);
        Assert.Equal(fp32.KvBytesPerToken / 4, int8.KvBytesPerToken);
        Assert.Equal("float32", int8.Dtype); // the weights and activations stay float32

        // What the manifest says is what the graph takes: int8 past and present, read from the named scales file.
        using (var session = new InferenceSession(Path.Combine(RepositoryPaths.DefaultModel, int8.OnnxFile)))
        {
            Assert.Equal(TensorElementType.Int8, session.InputMetadata[int8.Inputs.PastKeyOf(0)].ElementDataType);
            Assert.Equal(TensorElementType.Int8, session.OutputMetadata[int8.Outputs.PresentValueOf(int8.NumLayers - 1)].ElementDataType);
        }

        var scalesFile = Path.Combine(RepositoryPaths.DefaultModel, int8.KvScalesFile!);
        Assert.Equal(int8.NumLayers * 2 * int8.NumKeyValueHeads * int8.HeadDim * sizeof(float), new FileInfo(scalesFile).Length);
        var scales = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(scalesFile)));
        using var engine = EngineFactory.Create(KvLayouts.Int8);
        using var reference = EngineFactory.Create(KvLayouts.Shared);
        Assert.Equal(new KvDescriptor(fp32.Name, fp32.NumLayers, fp32.NumKeyValueHeads, fp32.HeadDim, "int8", 1, KvSnapshot.CurrentFormat, scales),
            engine.KvDescriptor);
        Assert.Null(reference.KvDescriptor.Scales);
        Assert.NotEqual(reference.KvDescriptor, engine.KvDescriptor);
        Assert.Equal(engine.KvDescriptor.BytesPerToken, engine.Manifest.KvBytesPerToken);
    }

    [Fact]
    public void An_int8_kv_needs_its_scales_and_a_graph_that_quantizes_on_write()
    {
        var manifest = ModelFolder.Load(RepositoryPaths.DefaultModel);
        var variants = new Dictionary<string, ModelVariant>
        {
            ["no-scales"] = new() { OnnxFile = "model.int8kv.onnx", PastPresentShareBuffer = true, KvDtype = "int8" },
            ["concat"] = new() { OnnxFile = "model.optimum.onnx", KvDtype = "int8", KvScalesFile = "model.int8kv.kvscales" },
        };
        var declared = manifest with { Variants = variants };
        Assert.Throws<InvalidDataException>(() => declared.WithVariant("no-scales"));
        Assert.Throws<InvalidDataException>(() => declared.WithVariant("concat"));
        var int8 = manifest.WithVariant(KvLayouts.Int8);
        Assert.Throws<ArgumentException>(() => KvDescriptor.Of(int8)); // int8 bytes without their scales' identity
        Assert.Throws<ArgumentException>(() => KvDescriptor.Of(manifest, "ab")); // float KV has none
        Assert.Null(manifest.KvScalesIdentity(RepositoryPaths.DefaultModel));
    }

    [Fact]
    public void Teacher_forced_greedy_tokens_agree_with_float32_on_the_reference_prompts()
    {
        var (fp32Hits, int8Hits, positions) = (0, 0, 0);
        for (var i = 0; i < scores.References.Count; i++)
        {
            var r = scores.References[i];
            // Positions prompt-1 … end-2 predict the greedy tokens (torch's float32 argmax at export).
            for (var k = 0; k < r.GreedyIds.Length; k++)
            {
                var at = r.PromptIds.Length - 1 + k;
                fp32Hits += scores.ReferenceFp32[i].Argmax[at] == r.GreedyIds[k] ? 1 : 0;
                int8Hits += scores.ReferenceInt8[i].Argmax[at] == r.GreedyIds[k] ? 1 : 0;
                positions++;
            }
        }

        output.WriteLine($"reference prompts, {positions} greedy positions: float32 KV {fp32Hits} agree with torch, int8 KV {int8Hits} ({(double)int8Hits / positions:P2})");
        Assert.True(fp32Hits >= positions - 1, $"the float32 graph itself reproduces torch's greedy tokens: {fp32Hits}/{positions}");
        Assert.True(int8Hits >= MinAgreement * positions, $"int8 KV: {int8Hits}/{positions} greedy tokens agree");
    }

    [Fact]
    public async Task The_engine_generates_float32s_greedy_tokens_from_the_reference_prompts()
    {
        // Free running through the scheduler (prefill, decode batch, int8 blocks): a divergence would compound here.
        var ct = TestContext.Current.CancellationToken;
        using var engine = EngineFactory.Create(KvLayouts.Int8);
        var tasks = scores.References.Select((r, i) =>
            engine.GenerateAsync($"r{i}", r.PromptIds, EngineFactory.Greedy(r.GreedyIds.Length), [], ct)).ToArray();
        var generated = await Task.WhenAll(tasks);
        var (same, positions) = (0, 0);
        for (var i = 0; i < generated.Length; i++)
        {
            var expected = scores.References[i].GreedyIds;
            same += expected.Zip(generated[i].Tokens).Count(p => p.First == p.Second);
            positions += expected.Length;
        }

        output.WriteLine($"free-running int8 KV: {same}/{positions} greedy tokens equal float32's at their position");
        Assert.True(same >= MinAgreement * positions, $"{same}/{positions}");
    }

    [Fact]
    public void Held_out_perplexity_and_greedy_agreement_stay_at_float32s()
    {
        var (fp32, int8, agreement, count) = Compare(scores.ValidationFp32, scores.ValidationInt8);
        output.WriteLine($"{scores.Validation.Count} held-out conversations, {count:N0} predicted tokens: perplexity float32 KV {fp32:F4}, " +
            $"int8 KV {int8:F4} ({int8 / fp32 - 1:+0.000%;-0.000%}); teacher-forced top-1 agreement {agreement:P2}");
        Assert.InRange(fp32, 1.0, 100.0); // a trained model on its own kind of text, not noise (50,257-way uniform)
        Assert.True(agreement >= MinAgreement, $"top-1 agreement {agreement:P2}");
        Assert.True(int8 / fp32 <= MaxPerplexityRatio, $"perplexity {int8:F4} vs float32's {fp32:F4}");
    }

    [Fact]
    public void Scales_that_clip_fail_the_bar_and_are_another_quantization()
    {
        // The same graph over scales 16 times too small: most K/V values clip at ±127. The graph reads its scales from
        // the file the manifest names, so this both shows the bar can fail and that the file is what identifies them.
        using var folder = new TempDirectory();
        var source = RepositoryPaths.DefaultModel;
        var manifest = ModelFolder.Load(source).WithVariant(KvLayouts.Int8);
        foreach (var name in new[] { ModelManifest.FileName, manifest.OnnxFile, "model.weights" })
        {
            File.CreateSymbolicLink(folder.File(name), Path.Combine(source, name));
        }

        var original = File.ReadAllBytes(Path.Combine(source, manifest.KvScalesFile!));
        var clipped = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(original.AsSpan()).ToArray().Select(s => s / 16).ToArray();
        File.WriteAllBytes(folder.File(manifest.KvScalesFile!), System.Runtime.InteropServices.MemoryMarshal.AsBytes(clipped.AsSpan()).ToArray());
        Assert.NotEqual(manifest.KvScalesIdentity(source), manifest.KvScalesIdentity(folder.Path));

        using var scorer = new TeacherForcedScorer(folder.Path, KvLayouts.Int8);
        var bad = scorer.Score(scores.Validation.Take(16).ToArray());
        var (fp32, int8, agreement, _) = Compare(scores.ValidationFp32.Take(16).ToArray(), bad);
        output.WriteLine($"scales / 16: perplexity {int8:F2} vs float32's {fp32:F2}, agreement {agreement:P2}");
        Assert.True(agreement < MinAgreement || int8 / fp32 > MaxPerplexityRatio, $"clipping passed: agreement {agreement:P2}, perplexity {int8:F2} vs {fp32:F2}");
    }

    [Fact]
    public async Task An_int8_snapshot_round_trips_continues_exactly_and_imports_only_under_the_same_scales()
    {
        var ct = TestContext.Current.CancellationToken;
        using var a = EngineFactory.Create(KvLayouts.Int8);
        using var b = EngineFactory.Create(KvLayouts.Int8);
        using var fp32 = EngineFactory.Create(KvLayouts.Shared);
        var prompt = a.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var reply = await a.GenerateAsync("a", prompt, EngineFactory.Greedy(16), [], ct);
        var source = a.GetOrCreateHandle("a");
        var cached = source.Tokens.ToArray();

        var snapshot = a.ExportKv("a")!;
        Assert.Equal(cached, snapshot.TokenIds);
        Assert.Equal(cached.Length * a.Manifest.KvBytesPerToken, snapshot.Data.Length);
        Assert.Equal(cached.Length * fp32.Manifest.KvBytesPerToken / 4, snapshot.Data.Length);
        Assert.Equal(KvReader.HostBytes(source, cached.Length), snapshot.Data.ToArray());
        Assert.Contains(snapshot.Data.ToArray(), v => v != 0); // int8 codes, not an empty buffer

        // Bytes that mean other values are refused: float32 KV, or int8 under other scales, or no scales at all.
        var d = snapshot.Descriptor;
        Assert.False(fp32.TryImportKv("x", snapshot));
        Assert.False(b.TryImportKv("x", new KvSnapshot(d with { Scales = new string('0', 64) }, [.. cached], snapshot.Data)));
        Assert.False(b.TryImportKv("x", new KvSnapshot(d with { Scales = null }, [.. cached], snapshot.Data)));
        var floatSnapshot = await ExportAfterGenerating(fp32, prompt, ct);
        Assert.False(b.TryImportKv("x", floatSnapshot));
        Assert.False(b.Pool.TryGet("x", out _));
        Assert.Equal(0, b.Pool.UsedBytes);

        Assert.True(b.TryImportKv("moved", snapshot));
        Assert.True(b.Pool.TryGet("moved", out var moved));
        Assert.Equal(snapshot.Data.ToArray(), KvReader.HostBytes(moved!, cached.Length));
        // The pool counts the memory the imported handle holds: at least the snapshot's bytes (a block has headroom).
        Assert.Equal(moved!.Bytes, b.Pool.UsedBytes);
        Assert.True(moved.Bytes >= snapshot.Data.Length, $"{moved.Bytes} bytes held for {snapshot.Data.Length} imported");
        Assert.Equal(snapshot.Data.ToArray(), b.ExportKv("moved")!.Data.ToArray());

        var turn2 = prompt.Concat(reply.Tokens).Concat(a.Tokenizer.EncodeToIds(KvSnapshotTests.FollowUp)).ToArray();
        var continued = await b.GenerateAsync("moved", turn2, EngineFactory.Greedy(16), [], ct);
        var expected = await a.GenerateAsync("a", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(cached.Length, continued.Usage.CachedTokens);
        Assert.Equal(expected.Tokens, continued.Tokens);
    }

    [Theory]
    [InlineData(RestoreTierKind.Disk)]
    [InlineData(RestoreTierKind.Host)]
    public async Task An_evicted_int8_conversation_restores_byte_exact_from_the_tier(RestoreTierKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        var bytesPerToken = ModelFolder.Load(RepositoryPaths.DefaultModel).WithVariant(KvLayouts.Int8).KvBytesPerToken;
        // Room for two of these conversations (~55 tokens each), not three: the third pushes the first out.
        using var engine = EngineFactory.Create(KvLayouts.Int8, o => o with
        {
            KvBudgetBytes = 150 * bytesPerToken, RestoreTierKind = kind, RestoreTierPath = folder.Path,
        });
        using var reference = EngineFactory.Create(KvLayouts.Int8, o => o with { RestoreTierKind = RestoreTierKind.Off });
        var prompt = engine.EncodeChat([new(ChatRole.User, "Tell me a fortune.")]);
        var first = await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(40), [], ct);
        var a = engine.GetOrCreateHandle("a");
        var history = a.Tokens.ToArray();
        var historyKv = KvReader.HostBytes(a, history.Length);
        await engine.GenerateAsync("b", engine.EncodeChat([new(ChatRole.User, "What is HttpClient for?")]), EngineFactory.Greedy(40), [], ct);
        await engine.GenerateAsync("c", engine.EncodeChat([new(ChatRole.User, "Goodbye.")]), EngineFactory.Greedy(40), [], ct);
        Assert.Equal(1, a.Evictions);
        var spilled = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(history.Length * bytesPerToken, spilled.BytesHeld);

        var turn2 = prompt.Concat(first.Tokens).Concat(engine.Tokenizer.EncodeToIds(KvSnapshotTests.FollowUp)).ToArray();
        var second = await engine.GenerateAsync("a", turn2, EngineFactory.Greedy(40), [], ct);
        await reference.GenerateAsync("a", prompt, EngineFactory.Greedy(40), [], ct);
        var expected = await reference.GenerateAsync("a", turn2, EngineFactory.Greedy(40), [], ct);
        Assert.Equal(history.Length, second.Usage.RestoredTokens);
        Assert.Equal(expected.Tokens, second.Tokens);
        Assert.Equal(historyKv, KvReader.HostBytes(a, history.Length));
    }

    private static async Task<KvSnapshot> ExportAfterGenerating(InferenceEngine engine, int[] prompt, CancellationToken ct)
    {
        await engine.GenerateAsync("f", prompt, EngineFactory.Greedy(4), [], ct);
        return engine.ExportKv("f")!;
    }

    /// <summary>Perplexities of two scorings of the same sequences and how often their argmax agree.</summary>
    private static (double Fp32, double Int8, double Agreement, int Count) Compare(
        IReadOnlyList<TeacherForcedScorer.Scores> fp32, IReadOnlyList<TeacherForcedScorer.Scores> int8)
    {
        var (nll32, nll8, agree, count) = (0.0, 0.0, 0, 0);
        for (var i = 0; i < fp32.Count; i++)
        {
            for (var t = 0; t < fp32[i].Argmax.Length; t++)
            {
                nll32 -= fp32[i].LogProb[t];
                nll8 -= int8[i].LogProb[t];
                agree += fp32[i].Argmax[t] == int8[i].Argmax[t] ? 1 : 0;
                count++;
            }
        }

        return (Math.Exp(nll32 / count), Math.Exp(nll8 / count), (double)agree / count, count);
    }

    /// <summary>Both graphs' teacher-forced scores of the reference prompts (with torch's greedy tokens) and of validation.jsonl.</summary>
    public sealed class ScoresFixture
    {
        /// <summary>Tokens of a held-out conversation used, from its start (as kvquant.py measures).</summary>
        private const int MaxTokens = 1024;

        public ScoresFixture()
        {
            var folder = RepositoryPaths.DefaultModel;
            References = ReferenceFile.Load(folder).References;
            var manifest = ModelFolder.Load(folder);
            var tokenizer = TokenizerLoader.Load(manifest.Tokenizer, folder);
            var template = ChatTemplates.Get(manifest.ChatTemplate);
            Validation = [.. File.ReadLines(Path.Combine(folder, "validation.jsonl")).Select(line =>
            {
                using var json = JsonDocument.Parse(line);
                var messages = json.RootElement.GetProperty("messages").EnumerateArray()
                    .Select(m => new ChatMessage(Enum.Parse<ChatRole>(m.GetProperty("role").GetString()!, ignoreCase: true), m.GetProperty("content").GetString()!))
                    .ToArray();
                return tokenizer.EncodeToIds(template.Render(messages, addGenerationPrompt: false)).Take(MaxTokens).ToArray();
            })];
            var references = References.Select(r => r.PromptIds.Concat(r.GreedyIds).ToArray()).ToArray();
            using (var fp32 = new TeacherForcedScorer(folder, variant: null))
            {
                ReferenceFp32 = fp32.Score(references);
                ValidationFp32 = fp32.Score(Validation);
            }

            using var int8 = new TeacherForcedScorer(folder, KvLayouts.Int8);
            ReferenceInt8 = int8.Score(references);
            ValidationInt8 = int8.Score(Validation);
        }

        public IReadOnlyList<ReferenceCase> References { get; }

        public IReadOnlyList<int[]> Validation { get; }

        internal TeacherForcedScorer.Scores[] ReferenceFp32 { get; }

        internal TeacherForcedScorer.Scores[] ReferenceInt8 { get; }

        internal TeacherForcedScorer.Scores[] ValidationFp32 { get; }

        internal TeacherForcedScorer.Scores[] ValidationInt8 { get; }
    }
}
