using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http;

internal static class UsageMapping
{
    public static ChatCompletionUsage ToOpenAi(this TurnUsage? usage)
    {
        usage ??= new TurnUsage();
        return new ChatCompletionUsage(usage.PromptTokens, usage.CompletionTokens, usage.TotalTokens,
            new PromptTokensDetails(usage.CachedTokens));
    }

    public static string ToOpenAi(this ReplyFinishReason? reason) => reason switch
    {
        ReplyFinishReason.Length => "length",
        _ => "stop",
    };
}
