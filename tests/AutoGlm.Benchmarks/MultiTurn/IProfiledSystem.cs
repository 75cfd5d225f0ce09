namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// A system that can say where a run's time went (its engines' decode forwards and per-step work against the
/// wall time the client saw), for the result's notes: what a missed speed target is spent on.
/// </summary>
public interface IProfiledSystem
{
    /// <summary>Marks the start of the measured run (after the warm-up).</summary>
    void BeginProfile();

    /// <summary>One line on the run since <see cref="BeginProfile"/>.</summary>
    string Profile(RunResult run);
}
