using System.Numerics.Tensors;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>The engine's KV-cached greedy decoding is exactly torch's, and exactly full recomputation.</summary>
public sealed class GreedyExactnessTests
{
    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Engine_greedy_equals_torch_reference_for_every_prompt(string layout)
    {
        var reference = ReferenceFile.Load(RepositoryPaths.DefaultModel);
        using var engine = EngineFactory.Create(layout);
        foreach (var (r, i) in reference.References.Select((r, i) => (r, i)))
        {
            // No stop token: the reference continues past an end of turn.
            var result = await engine.GenerateAsync($"ref-{i}", r.PromptIds, EngineFactory.Greedy(r.GreedyIds.Length),
                stopTokenIds: [], TestContext.Current.CancellationToken);
            Assert.Equal(r.GreedyIds, result.Tokens);
            Assert.Equal(FinishReason.Length, result.FinishReason);
            Assert.Equal(new GenerationUsage(r.PromptIds.Length, 0, r.PromptIds.Length, r.GreedyIds.Length), result.Usage);
        }
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Kv_cached_decoding_equals_full_recomputation(string layout)
    {
        var reference = ReferenceFile.Load(RepositoryPaths.DefaultModel);
        using var engine = EngineFactory.Create(layout);
        using var session = ReferenceSession.Open();
        foreach (var (r, i) in reference.References.Take(3).Select((r, i) => (r, i)))
        {
            var cached = await engine.GenerateAsync($"recompute-{i}", r.PromptIds, EngineFactory.Greedy(32), [],
                TestContext.Current.CancellationToken);

            // Recompute: every token from the whole sequence, no cache at all.
            var sequence = r.PromptIds.ToList();
            var recomputed = new List<int>();
            for (var t = 0; t < 32; t++)
            {
                using var decoder = new ReferenceDecoder(session.Session, session.Manifest);
                var next = TensorPrimitives.IndexOfMax(decoder.Step(sequence));
                recomputed.Add(next);
                sequence.Add(next);
            }

            Assert.Equal(recomputed, cached.Tokens);
        }
    }
}
