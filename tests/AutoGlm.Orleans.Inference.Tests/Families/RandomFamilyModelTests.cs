using System.Text.Json;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Families;

/// <summary>
/// A model of tools/model/random_family.py (random weights at a realistic width, not committed: the benchmarks'
/// Qwen2.5-0.5B shape, or a 2-layer smoke of it), when AUTOGLM_RANDOM_FAMILY_MODEL names its folder: both layouts load
/// with the shape it was made with and decode torch's greedy tokens. Skipped without the variable.
/// </summary>
public sealed class RandomFamilyModelTests
{
    public const string Variable = "AUTOGLM_RANDOM_FAMILY_MODEL";

    [Theory]
    [InlineData(FamilyFixtures.Optimum)]
    [InlineData(FamilyFixtures.Gqa)]
    public async Task Both_layouts_decode_torchs_greedy_tokens(string layout)
    {
        var root = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(root))
        {
            Assert.Skip($"{Variable} is not set (tools/model/random_family.py --out-dir DIR writes such a folder)");
        }

        var ct = TestContext.Current.CancellationToken;
        using var reference = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, "reference.json")));
        var config = reference.RootElement.GetProperty("config");
        var folder = Path.Combine(root, layout);
        var manifest = ModelFolder.Load(folder);
        Assert.Equal(config.GetProperty("num_layers").GetInt32(), manifest.NumLayers);
        Assert.Equal(config.GetProperty("hidden_size").GetInt32(), manifest.HiddenSize);
        Assert.Equal(config.GetProperty("num_heads").GetInt32(), manifest.NumAttentionHeads);
        Assert.Equal(config.GetProperty("num_kv_heads").GetInt32(), manifest.NumKeyValueHeads);
        Assert.Equal(config.GetProperty("vocab_size").GetInt32(), manifest.VocabSize);

        using var engine = InferenceEngine.Create(new EngineOptions { ModelPath = folder, IntraOpThreads = 2 });
        foreach (var (r, i) in reference.RootElement.GetProperty("references").EnumerateArray().Select((r, i) => (r, i)))
        {
            var prompt = r.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var greedy = r.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var result = await engine.GenerateAsync($"random-{i}", prompt, EngineFactory.Greedy(greedy.Length), [], ct);
            Assert.Equal(greedy, result.Tokens);
        }
    }
}
