namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// Token accounting of one generation. Prompt = cached (reused from the handle's KV) + computed (prefilled now).
/// </summary>
public sealed record GenerationUsage(int PromptTokens, int CachedTokens, int ComputedTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}
