namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// Token accounting of one generation. Prompt = cached (reused from the handle's KV) + computed (prefilled now).
/// </summary>
public sealed record GenerationUsage(int PromptTokens, int CachedTokens, int ComputedTokens, int CompletionTokens)
{
    /// <summary>
    /// Of <see cref="CachedTokens"/>, those restored from the restore tier as this turn started (the sequence's KV had
    /// been evicted): cached all the same, since they were not computed again.
    /// </summary>
    public int RestoredTokens { get; init; }

    public int TotalTokens => PromptTokens + CompletionTokens;
}
