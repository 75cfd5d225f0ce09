using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Sampling;
using AutoGlm.Orleans.Inference.Scheduling;
using AutoGlm.Orleans.Inference.Text;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>Scheduler requests without an engine: a pool's handle, the default model's tokenizer (r50k), greedy sampling.</summary>
internal static class Requests
{
    public static readonly Lazy<Tokenizer> R50k = new(() => TiktokenTokenizer.CreateForEncoding("r50k_base"));

    /// <summary>A request as Submit makes it: its handle held, a prompt of <paramref name="promptLength"/> tokens.</summary>
    public static ActiveRequest Create(KvCachePool pool, string id, int promptLength, int maxNewTokens,
        IReadOnlyList<string>? stopSequences = null, int[]? stopTokens = null, CancellationTokenSource? cancel = null)
    {
        var handle = pool.GetOrCreate(id);
        Assert.True(pool.TryActivate(handle));
        var prompt = Enumerable.Range(0, promptLength).Select(i => 200 + i).ToArray();
        var sampling = new SamplingOptions { Temperature = 0f, MaxNewTokens = maxNewTokens, StopSequences = stopSequences ?? [] };
        return new ActiveRequest(new GenerationRequest(handle, prompt, sampling), prompt, stopTokens ?? [],
            new TokenSampler(sampling, 50_257), new StreamingDetokenizer(R50k.Value),
            stopSequences is { Count: > 0 } ? new StopSequenceMatcher(stopSequences) : null, cancel?.Token ?? CancellationToken.None);
    }
}
