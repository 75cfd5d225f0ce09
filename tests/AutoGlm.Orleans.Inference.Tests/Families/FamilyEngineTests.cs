using System.Numerics.Tensors;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Families;

/// <summary>
/// The engine serving each family's exports as a user would bring them: greedy decoding is torch's, the KV path is
/// full recomputation and batched rows are their solo runs, a later turn computes only its new tokens, the chat
/// template renders what the family's published template renders, and the end-of-turn ids end a reply.
/// </summary>
public sealed class FamilyEngineTests
{
    public static TheoryData<string, string> All() => FamilyFixtures.All();

    [Theory]
    [MemberData(nameof(All))]
    public async Task Greedy_decoding_equals_torch_for_every_reference_prompt(string family, string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = FamilyFixtures.Engine(family, layout);
        foreach (var (r, i) in FamilyFixtures.Reference(family).References.Select((r, i) => (r, i)))
        {
            // No stop tokens: the reference continues past an end of turn.
            var result = await engine.GenerateAsync($"ref-{i}", r.PromptIds, EngineFactory.Greedy(r.GreedyIds.Length), [], ct);
            Assert.Equal(r.GreedyIds, result.Tokens);
            Assert.Equal(FinishReason.Length, result.FinishReason);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public async Task Kv_cached_decoding_equals_full_recomputation(string family, string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        var folder = FamilyFixtures.Folder(family, layout);
        using var engine = FamilyFixtures.Engine(family, layout);
        var manifest = ModelFolder.Load(folder);
        using var session = FamilyExportTests.Open(folder, manifest);
        const int tokens = 16;
        foreach (var (r, i) in FamilyFixtures.Reference(family).References.Take(2).Select((r, i) => (r, i)))
        {
            var cached = await engine.GenerateAsync($"recompute-{i}", r.PromptIds, EngineFactory.Greedy(tokens), [], ct);
            var sequence = r.PromptIds.ToList();
            var recomputed = new List<int>();
            for (var t = 0; t < tokens; t++)
            {
                // Every token from the whole sequence, no cache at all.
                using var decoder = new ReferenceDecoder(session, manifest);
                var next = TensorPrimitives.IndexOfMax(decoder.Step(sequence));
                recomputed.Add(next);
                sequence.Add(next);
            }

            Assert.Equal(recomputed, cached.Tokens);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public async Task Batched_rows_equal_their_solo_runs(string family, string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = FamilyFixtures.Engine(family, layout, o => o with { MaxBatchSize = 16, MaxTokensPerStep = 64 });
        var prompts = FamilyFixtures.Reference(family).References.Select(r => r.PromptIds).ToList();
        string[] extra =
        [
            "Hi.",
            "Tell me a fortune about computers.",
            "What is HttpClient for? Please answer in one sentence.",
            "Explain the Dispose method of Stream, and say when I should call it.",
        ];
        prompts.AddRange(extra.Select(e => engine.EncodeChat([new(ChatRole.User, e)])));
        Assert.True(prompts.Select(p => p.Length).Distinct().Count() >= 6, "prompt lengths must differ");
        var lengths = prompts.Select((_, i) => 24 + 3 * i).ToArray(); // each row leaves at a different step

        // The later half joins a batch that is already decoding (a step of these models takes about a millisecond,
        // so a longer wait would let the first rows finish alone).
        var (solo, batched, before, after) = await StaggeredRuns.RunAsync(engine, prompts, lengths, TimeSpan.FromMilliseconds(1), ct);
        for (var i = 0; i < prompts.Count; i++)
        {
            Assert.Equal(solo[i], batched[i].Tokens);
        }

        var steps = after.Steps - before.Steps;
        // Alone, every token would take a step of its own (and every prompt one more). The bound leaves room for a
        // loaded machine, where the 1 ms waits above stretch and the first rows run part of their reply alone.
        Assert.True(steps < solo.Sum(s => s.Length) * 4 / 5, $"batched: {steps} steps for {solo.Sum(s => s.Length)} tokens; rows must share steps");
    }

    [Theory]
    [MemberData(nameof(All))]
    public async Task A_second_turn_computes_only_its_new_tokens(string family, string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = FamilyFixtures.Engine(family, layout);
        ChatMessage[] first = [new(ChatRole.System, "You answer briefly."), new(ChatRole.User, "What does Console.WriteLine do?")];
        var turn1 = engine.EncodeChat(first);
        var reply = await engine.GenerateAsync("conversation", turn1, EngineFactory.Greedy(20), [], ct);
        Assert.Equal(FinishReason.Length, reply.FinishReason);
        Assert.Equal((turn1.Length, 0), (reply.Usage.ComputedTokens, reply.Usage.CachedTokens));
        // Everything fed is cached: the prompt and the reply but its last token, sampled and never fed.
        var cached = turn1.Length + reply.Tokens.Length - 1;
        Assert.Equal(cached, engine.GetOrCreateHandle("conversation").CachedTokenCount);

        // What the family's template writes after an assistant reply, up to the next generation prompt.
        const string marker = "REPLY";
        var full = engine.ChatTemplate.Render([.. first, new(ChatRole.Assistant, marker), new(ChatRole.User, "Thank you.")], addGenerationPrompt: true);
        var followUp = engine.Tokenizer.EncodeToIds(full[(full.IndexOf(marker, StringComparison.Ordinal) + marker.Length)..]);
        var turn2 = turn1.Concat(reply.Tokens).Concat(followUp).ToArray();
        var second = await engine.GenerateAsync("conversation", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(cached, second.Usage.CachedTokens);
        Assert.Equal(turn2.Length - cached, second.Usage.ComputedTokens);

        var fresh = await engine.GenerateAsync("fresh", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(0, fresh.Usage.CachedTokens);
        Assert.Equal(fresh.Tokens, second.Tokens);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void The_chat_template_renders_the_published_templates_strings(string family, string layout)
    {
        using var engine = FamilyFixtures.Engine(family, layout);
        var reference = FamilyFixtures.Reference(family);
        Assert.Equal(reference.Template, engine.ChatTemplate.Name);
        foreach (var c in reference.TemplateCases)
        {
            var text = engine.ChatTemplate.Render(FamilyMessage.ToChat(c.Messages), c.AddGenerationPrompt);
            Assert.Equal(c.Text, text);
            Assert.Equal(c.Ids, engine.Tokenizer.EncodeToIds(text));
        }

        foreach (var r in reference.References)
        {
            Assert.Equal(r.PromptIds, engine.EncodeChat(FamilyMessage.ToChat(r.Messages)));
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public async Task The_end_of_turn_ids_stop_generation(string family, string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var engine = FamilyFixtures.Engine(family, layout);
        var reference = FamilyFixtures.Reference(family);
        var ended = reference.References.Where(r => r.TurnEnded).ToList();
        Assert.NotEmpty(ended); // the trained fixture closes at least one turn within 64 tokens
        foreach (var (r, i) in reference.References.Select((r, i) => (r, i)))
        {
            // The stop ids are the manifest's own, derived from config.json / generation_config.json / genai_config.json.
            var result = await engine.GenerateAsync($"turn-{i}", r.PromptIds, EngineFactory.Greedy(r.TurnIds.Length), cancellationToken: ct);
            if (r.TurnEnded)
            {
                Assert.Equal(FinishReason.Stop, result.FinishReason);
                Assert.Contains(r.TurnIds[^1], reference.EndOfTurnIds);
                Assert.Equal(r.TurnIds[..^1], result.Tokens);
            }
            else
            {
                Assert.Equal(FinishReason.Length, result.FinishReason);
                Assert.Equal(r.TurnIds, result.Tokens);
            }
        }
    }
}
