using System.Numerics.Tensors;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Tests;

/// <summary>
/// The shipped model, loaded through ONNX Runtime and tokenized by Microsoft.ML.Tokenizers, reproduces what
/// torch computed when it was exported: the same prompt ids, the same last-position logits, the same greedy tokens.
/// </summary>
public sealed class TinyChatReferenceTests : IClassFixture<TinyChatReferenceTests.ModelFixture>
{
    private readonly ModelFixture _model;

    public TinyChatReferenceTests(ModelFixture model) => _model = model;

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        var count = ReferenceFile.Load(RepositoryPaths.DefaultModel).References.Count;
        for (var i = 0; i < count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Fact]
    public void Manifest_matches_the_graph()
    {
        var m = _model.Manifest;
        Assert.Equal("tiny-chat", m.Name);
        Assert.Equal("tiny-chat", m.ChatTemplate);
        Assert.Equal("last", m.LogitsMode);
        Assert.Equal([50256], m.EndOfTurnTokenIds);
        Assert.Equal(m.NumAttentionHeads * m.HeadDim, m.HiddenSize);

        var inputs = _model.Session.InputMetadata;
        Assert.Equal(3 + 2 * m.NumLayers, inputs.Count);
        var pastKey = inputs[m.Inputs.PastKeyOf(m.NumLayers - 1)];
        Assert.Equal(new[] { -1, m.NumKeyValueHeads, -1, m.HeadDim }, pastKey.Dimensions);
        var logits = _model.Session.OutputMetadata[m.Outputs.Logits];
        Assert.Equal(new[] { -1, 1, m.VocabSize }, logits.Dimensions);
        Assert.Equal(1 + 2 * m.NumLayers, _model.Session.OutputMetadata.Count);

        // The committed model must stay small enough to ship in the repository.
        Assert.InRange(new FileInfo(Path.Combine(RepositoryPaths.DefaultModel, m.OnnxFile)).Length, 1, 40L * 1024 * 1024);
        Assert.Equal(m.NumLayers * 2L * m.NumKeyValueHeads * m.HeadDim * 4, m.KvBytesPerToken);
    }

    [Fact]
    public void References_cover_a_long_prompt()
    {
        var reference = _model.Reference;
        Assert.True(reference.References.Count >= 3);
        Assert.Contains(reference.References, r => r.PromptIds.Length > 200);
        Assert.All(reference.References, r => Assert.True(r.GreedyIds.Length >= 32));
        Assert.All(reference.References, r => Assert.Equal(_model.Manifest.VocabSize, r.LastLogits.Length));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tokenizer_reproduces_reference_ids(int index)
    {
        var r = _model.Reference.References[index];
        var ids = _model.Tokenizer.EncodeToIds(r.Prompt);
        Assert.Equal(r.PromptIds, ids);
        Assert.Equal(r.Prompt, _model.Tokenizer.Decode(ids));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prefill_logits_match_torch(int index)
    {
        var r = _model.Reference.References[index];
        using var decoder = new ReferenceDecoder(_model.Session, _model.Manifest);
        var logits = decoder.Step(r.PromptIds);

        Assert.Equal(r.LastLogits.Length, logits.Length);
        var maxDiff = 0f;
        for (var i = 0; i < logits.Length; i++)
        {
            maxDiff = MathF.Max(maxDiff, MathF.Abs(logits[i] - r.LastLogits[i]));
        }

        Assert.True(maxDiff <= _model.Reference.LogitsTolerance,
            $"max |ORT - torch| = {maxDiff:E3} > {_model.Reference.LogitsTolerance:E1}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cached_greedy_decoding_matches_torch(int index)
    {
        var r = _model.Reference.References[index];
        using var decoder = new ReferenceDecoder(_model.Session, _model.Manifest);
        var generated = new List<int>();
        var logits = decoder.Step(r.PromptIds);
        while (generated.Count < r.GreedyIds.Length)
        {
            var next = TensorPrimitives.IndexOfMax(logits);
            generated.Add(next);
            logits = decoder.Step([next]);
        }

        Assert.Equal(r.GreedyIds, generated);
        Assert.Equal(r.PromptIds.Length + r.GreedyIds.Length, decoder.CachedTokens);
    }

    [Fact]
    public void Cached_and_recomputed_prefixes_agree()
    {
        // The KV path (past > 0) and the empty-past path (P = 0) are the same computation.
        var r = _model.Reference.References[0];
        var full = r.PromptIds.Concat(r.GreedyIds.Take(8)).ToArray();

        using var recompute = new ReferenceDecoder(_model.Session, _model.Manifest);
        var expected = recompute.Step(full);

        using var incremental = new ReferenceDecoder(_model.Session, _model.Manifest);
        incremental.Step(r.PromptIds);
        var actual = incremental.Step(r.GreedyIds.Take(8).ToArray());

        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-4f, $"logit {i}: {expected[i]} vs {actual[i]}");
        }
    }

    public sealed class ModelFixture : IDisposable
    {
        public ModelFixture()
        {
            Manifest = ModelManifest.Load(RepositoryPaths.DefaultModel);
            Reference = ReferenceFile.Load(RepositoryPaths.DefaultModel);
            Tokenizer = TokenizerLoader.Load(Manifest.Tokenizer, RepositoryPaths.DefaultModel);
            using var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                IntraOpNumThreads = Math.Min(2, Environment.ProcessorCount),
            };
            Session = new InferenceSession(Path.Combine(RepositoryPaths.DefaultModel, Manifest.OnnxFile), options);
        }

        public ModelManifest Manifest { get; }
        public ReferenceFile Reference { get; }
        public Microsoft.ML.Tokenizers.Tokenizer Tokenizer { get; }
        public InferenceSession Session { get; }

        public void Dispose() => Session.Dispose();
    }
}
