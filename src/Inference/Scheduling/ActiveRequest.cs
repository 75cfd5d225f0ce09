using System.Threading.Channels;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Sampling;
using AutoGlm.Orleans.Inference.Text;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>The scheduler's state of one generation, from submission to its final chunk.</summary>
internal sealed class ActiveRequest
{
    /// <summary>Characters a token decodes to, on average, for sizing the reply's text at submission.</summary>
    private const int CharsPerToken = 4;

    /// <summary>The most text reserved up front: a longer reply grows its buffer as it goes.</summary>
    private const int MaxInitialChars = 16 * 1024;

    private readonly int[] _stopTokenIds;

    public ActiveRequest(GenerationRequest request, int[] prompt, int[] stopTokenIds, TokenSampler sampler,
        StreamingDetokenizer detokenizer, StopSequenceMatcher? stopMatcher, CancellationToken cancellation)
    {
        Request = request;
        Handle = request.Handle;
        Prompt = prompt;
        _stopTokenIds = stopTokenIds;
        Sampler = sampler;
        Detokenizer = detokenizer;
        StopMatcher = stopMatcher;
        Cancellation = cancellation;
        MaxNewTokens = request.Sampling.MaxNewTokens;
        Context = new List<int>(prompt.Length + MaxNewTokens);
        Context.AddRange(prompt);
        // Made here, on the caller's thread, at their full size: the scheduler's thread then allocates nothing for them.
        Text = new OutputText((int)Math.Min((long)MaxNewTokens * CharsPerToken, MaxInitialChars));
        Output = Channel.CreateUnbounded<GenerationChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        EnqueuedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
    }

    public GenerationRequest Request { get; }

    public KvCacheHandle Handle { get; }

    public int[] Prompt { get; }

    public int MaxNewTokens { get; }

    /// <summary>Prompt and generated tokens: what the repetition penalty looks at.</summary>
    public List<int> Context { get; }

    public TokenSampler Sampler { get; }

    public StreamingDetokenizer Detokenizer { get; }

    public StopSequenceMatcher? StopMatcher { get; }

    /// <summary>The reply's text; chunks stream slices of it.</summary>
    public OutputText Text { get; }

    /// <summary>The final chunk's text: what was still held when the generation ended (set by the output processor).</summary>
    public ReadOnlyMemory<char> FinalText { get; set; }

    public CancellationToken Cancellation { get; }

    public CancellationTokenRegistration CancellationRegistration { get; set; }

    public Channel<GenerationChunk> Output { get; }

    public RequestState State { get; set; } = RequestState.Waiting;

    /// <summary>True from admission until it ends: it holds one of the batch's places (the planner's running set).</summary>
    public bool IsRunning { get; set; }

    /// <summary>Its place in the waiting queue (under the queue's lock), null once it left.</summary>
    public LinkedListNode<ActiveRequest>? QueueNode { get; set; }

    /// <summary>How many younger requests were admitted ahead of it while it did not fit (the queue's fairness bound).</summary>
    public int Overtaken { get; set; }

    public int CachedTokens { get; set; }

    public int ComputedTokens { get; set; }

    /// <summary>Tokens the restore tier put back into the handle at admission (<see cref="TierRestorer"/>).</summary>
    public int RestoredTokens { get; set; }

    /// <summary>KV read from the restore tier at submission: admission imports it.</summary>
    public StagedRestore? Staged { get; set; }

    /// <summary>Index in <see cref="Prompt"/> of the next token to prefill, advanced when a chunk is planned.</summary>
    public int PrefillCursor { get; set; }

    public int Generated { get; set; }

    /// <summary>The last sampled token: emitted, not yet fed to the model.</summary>
    public int PendingToken { get; set; }

    /// <summary>KV bytes reserved in the pool for this generation from admission to its end: its sequence at its longest.</summary>
    public long ReservedBytes { get; set; }

    public long EnqueuedTimestamp { get; }

    /// <summary>When the waiting queue took it, stamped under the queue's lock: the queue's order is this order.</summary>
    public long QueuedTimestamp { get; set; }

    public long AdmittedTimestamp { get; set; }

    public long FirstTokenTimestamp { get; set; }

    public long LastTokenTimestamp { get; set; }

    /// <summary>The request is over (finished, failed or refused): its sampler and a restore still staged go.</summary>
    public void Release()
    {
        Sampler.Dispose();
        Staged?.Dispose();
        Staged = null;
    }

    public bool IsStopToken(int token) => Array.IndexOf(_stopTokenIds, token) >= 0;

    public GenerationUsage Usage() =>
        new(Prompt.Length, CachedTokens, ComputedTokens, Generated) { RestoredTokens = Math.Min(RestoredTokens, CachedTokens) };
}
