namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// A system that lives in this process. A fresh instance serves each concurrency, so no run starts with the
/// caches of the one before it (the factory gets the concurrency it will serve); each is warmed up by one short unmeasured turn.
/// </summary>
public sealed class InProcessRunner(string name, Func<int, CancellationToken, Task<IChatSystem>> create, IReadOnlyList<string> notes) : ISystemRunner
{
    private readonly List<string> _notes = [.. notes];

    public string Name => name;

    public IReadOnlyList<string> Notes => _notes;

    public async Task<IReadOnlyList<RunResult>> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var runs = new List<RunResult>();
        foreach (var concurrency in workload.Options.Concurrencies)
        {
            var system = await create(concurrency, cancellationToken).ConfigureAwait(false);
            await using (system.ConfigureAwait(false))
            {
                await MultiTurnDriver.WarmUpAsync(system, workload.Conversations[0], cancellationToken).ConfigureAwait(false);
                using var progress = new ProgressDisplay($"{name} c={concurrency}", workload.TotalTurns);
                var profiled = system as IProfiledSystem;
                profiled?.BeginProfile();
                var run = await MultiTurnDriver.RunAsync(system, workload.Conversations, concurrency, progress, cancellationToken)
                    .ConfigureAwait(false);
                runs.Add(run);
                if (profiled is not null)
                {
                    _notes.Add(profiled.Profile(run));
                }
            }
        }

        return runs;
    }
}
