namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// What one step does, decided by <see cref="StepPlanner"/> before any of it runs (vLLM's SchedulerOutput): data
/// only, so planning is tested without a model. Reused from step to step (its lists keep their capacity), so
/// planning allocates nothing.
/// </summary>
internal sealed class StepPlan
{
    /// <summary>Admitted this step: their handles are cut to <see cref="ActiveRequest.CachedTokens"/> before their first chunk.</summary>
    public List<ActiveRequest> Admitted { get; } = [];

    /// <summary>Prompt chunks to compute, in order, within the step's token budget.</summary>
    public List<PrefillChunk> Prefills { get; } = [];

    /// <summary>
    /// The decode forward's rows: every decoding request, and those whose prompt completes this step (they decode in
    /// the same step, from the first token their prefill sampled, unless that token ends them).
    /// </summary>
    public List<ActiveRequest> Decodes { get; } = [];

    /// <summary>Requests planning ended (cancelled, waited too long, can never fit), with how: they run no more.</summary>
    public List<(ActiveRequest Request, RequestOutcome Outcome)> Ended { get; } = [];

    /// <summary>Nothing to compute: the scheduler may sleep until woken.</summary>
    public bool IsIdle => Prefills.Count == 0 && Decodes.Count == 0;

    public void Clear()
    {
        Admitted.Clear();
        Prefills.Clear();
        Decodes.Clear();
        Ended.Clear();
    }
}
