using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>
/// Each prompt generated alone, one after the other, then all of them again at once in one engine: half start
/// together, the others join one by one (<paramref name="joinDelay"/> apart) while the first ones decode. What
/// batching must not change (the tokens) and what it must (the steps) are then the caller's to assert.
/// </summary>
internal static class StaggeredRuns
{
    public static async Task<(List<int[]> Solo, Generation[] Batched, EngineStats Before, EngineStats After)> RunAsync(
        InferenceEngine engine, IReadOnlyList<int[]> prompts, IReadOnlyList<int> lengths, TimeSpan joinDelay, CancellationToken ct)
    {
        var solo = new List<int[]>();
        for (var i = 0; i < prompts.Count; i++)
        {
            solo.Add((await engine.GenerateAsync($"solo-{i}", prompts[i], EngineFactory.Greedy(lengths[i]), [], ct)).Tokens);
        }

        var before = engine.GetStats();
        var tasks = new List<Task<Generation>>();
        for (var i = 0; i < prompts.Count; i++)
        {
            tasks.Add(engine.GenerateAsync($"batched-{i}", prompts[i], EngineFactory.Greedy(lengths[i]), [], ct));
            if (i >= prompts.Count / 2)
            {
                await Task.Delay(joinDelay, ct);
            }
        }

        var batched = await Task.WhenAll(tasks);
        return (solo, batched, before, engine.GetStats());
    }
}
