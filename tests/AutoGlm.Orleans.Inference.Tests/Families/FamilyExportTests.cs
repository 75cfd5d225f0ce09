using System.Numerics.Tensors;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Tests.Families;

/// <summary>
/// Each family's two exports, read the way a user's export is read (no model.json), reproduce torch through plain
/// ONNX Runtime: the manifest the engine derives from the exporter's config, the tokenizer's ids, the prefill logits,
/// the cached greedy tokens. Independent of the engine, so a failure here is the export's or the loading code's.
/// </summary>
public sealed class FamilyExportTests
{
    public static TheoryData<string, string> All() => FamilyFixtures.All();

    [Theory]
    [MemberData(nameof(All))]
    public void The_manifest_comes_from_the_exporters_config(string family, string layout)
    {
        var folder = FamilyFixtures.Folder(family, layout);
        var reference = FamilyFixtures.Reference(family);
        Assert.False(File.Exists(Path.Combine(folder, ModelManifest.FileName)));
        Assert.True(File.Exists(Path.Combine(folder, layout == FamilyFixtures.Gqa ? "genai_config.json" : "config.json")));

        var m = ModelFolder.Load(folder);
        Assert.Equal(reference.ModelType, m.Architecture);
        Assert.Equal(reference.Template, m.ChatTemplate);
        Assert.True(m.NumKeyValueHeads < m.NumAttentionHeads, "every family fixture groups its KV heads");
        Assert.Equal(reference.EndOfTurnIds.Order(), m.EndOfTurnTokenIds.Order());
        Assert.Equal("all", m.LogitsMode);
        Assert.Equal(layout == FamilyFixtures.Gqa, m.PastPresentShareBuffer);
        // The genai builder's graph positions tokens itself (rotary inside GroupQueryAttention): no position input.
        Assert.Equal(layout == FamilyFixtures.Gqa, m.Inputs.PositionIds is null);
        Assert.Equal(m.NumLayers * 2L * m.NumKeyValueHeads * m.HeadDim * 4, m.KvBytesPerToken);

        using var session = Open(folder, m);
        Assert.Equal(m.GraphInputNames().Order(), session.InputMetadata.Keys.Order());
        Assert.Equal(new[] { -1, m.NumKeyValueHeads, -1, m.HeadDim }, session.InputMetadata[m.Inputs.PastKeyOf(0)].Dimensions);
        Assert.Equal(new[] { -1, -1, m.VocabSize }, session.OutputMetadata[m.Outputs.Logits].Dimensions);
        Assert.Equal(reference.References[0].LastLogits.Length, m.VocabSize);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void The_tokenizer_reproduces_the_reference_ids(string family, string layout)
    {
        var folder = FamilyFixtures.Folder(family, layout);
        var tokenizer = TokenizerLoader.Load(ModelFolder.Load(folder).Tokenizer, folder);
        foreach (var r in FamilyFixtures.Reference(family).References)
        {
            var ids = tokenizer.EncodeToIds(r.Prompt);
            Assert.Equal(r.PromptIds, ids);
            Assert.Equal(r.Prompt, tokenizer.Decode(ids));
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Prefill_logits_and_cached_greedy_tokens_match_torch(string family, string layout)
    {
        var folder = FamilyFixtures.Folder(family, layout);
        var reference = FamilyFixtures.Reference(family);
        var manifest = ModelFolder.Load(folder);
        using var session = Open(folder, manifest);
        foreach (var r in reference.References)
        {
            using var decoder = new ReferenceDecoder(session, manifest);
            var logits = decoder.Step(r.PromptIds);
            var maxDiff = 0f;
            for (var i = 0; i < logits.Length; i++)
            {
                maxDiff = MathF.Max(maxDiff, MathF.Abs(logits[i] - r.LastLogits[i]));
            }

            Assert.True(maxDiff <= reference.LogitsTolerance,
                $"{family}/{layout}, {r.PromptIds.Length}-token prompt: max |ORT - torch| = {maxDiff:E3}");

            var generated = new List<int>();
            while (generated.Count < r.GreedyIds.Length)
            {
                var next = TensorPrimitives.IndexOfMax(logits);
                generated.Add(next);
                logits = decoder.Step([next]);
            }

            Assert.Equal(r.GreedyIds, generated);
        }
    }

    internal static InferenceSession Open(string folder, ModelManifest manifest)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2 };
        return new InferenceSession(Path.Combine(folder, manifest.OnnxFile), options);
    }
}
