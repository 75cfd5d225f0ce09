using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// Decides each step (vLLM's Scheduler.schedule): which requests end before it runs (cancelled, waited too long,
/// can never fit), which waiting ones are admitted (a batch place and their KV reserved, in the waiting queue's
/// order), which prompts compute how many tokens within the step's budget (chunked prefill, oldest first, so a
/// long prompt never stalls the running streams), and which rows decode. The one place to look for why a request
/// waits. It writes a <see cref="StepPlan"/> and touches no model state: the only KV it moves is a staged restore's
/// import, at admission, because whether that fits decides the admission. Scheduler thread only.
/// </summary>
internal sealed class StepPlanner
{
    private readonly WaitingQueue _waiting;
    private readonly KvCachePool _pool;
    private readonly EngineMetrics _metrics;
    private readonly int _maxBatchSize;
    private readonly int _maxTokensPerStep;
    private readonly List<ActiveRequest> _prefilling = [];
    private readonly List<ActiveRequest> _decoding = [];
    private readonly Func<ActiveRequest, Admission> _tryAdmit;
    private StepPlan _plan = new();
    private long _now;
    private int _running;

    public StepPlanner(WaitingQueue waiting, KvCachePool pool, int maxBatchSize, int maxTokensPerStep, EngineMetrics metrics)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokensPerStep, maxBatchSize);
        _waiting = waiting;
        _pool = pool;
        _maxBatchSize = maxBatchSize;
        _maxTokensPerStep = maxTokensPerStep;
        _metrics = metrics;
        _tryAdmit = TryAdmit;
    }

    /// <summary>Admitted requests not ended yet (prefilling or decoding); read from any thread.</summary>
    public int Running => Volatile.Read(ref _running);

    public IReadOnlyList<ActiveRequest> Prefilling => _prefilling;

    public IReadOnlyList<ActiveRequest> Decoding => _decoding;

    /// <summary>
    /// Plans the next step into <paramref name="plan"/>. <paramref name="lookForCancelled"/>: a caller cancelled since the
    /// last plan, so the waiting queue is searched for it (running requests are checked every step, at no cost).
    /// </summary>
    public void Schedule(StepPlan plan, long now, bool lookForCancelled)
    {
        plan.Clear();
        _plan = plan;
        _now = now;
        if (lookForCancelled)
        {
            foreach (var request in _waiting.TakeCancelled())
            {
                plan.Ended.Add((request, RequestOutcome.Completed(FinishReason.Cancelled)));
            }
        }

        // Before admission: a request is never started after waiting longer than the limit.
        foreach (var request in _waiting.TakeExpired(now))
        {
            _metrics.QueueTimedOut();
            plan.Ended.Add((request, RequestOutcome.Failed(new EngineOverloadedException(_waiting.MaxWait, _waiting.Count))));
        }

        // Cancelled running requests give their places back before admission fills them.
        EndCancelled(_decoding, plan);
        EndCancelled(_prefilling, plan);
        _waiting.Admit(_tryAdmit);

        plan.Decodes.AddRange(_decoding);
        var budget = _maxTokensPerStep - _decoding.Count;
        for (var i = 0; i < _prefilling.Count && budget > 0;)
        {
            var request = _prefilling[i];
            var chunk = new PrefillChunk(request, request.PrefillCursor, Math.Min(request.Prompt.Length - request.PrefillCursor, budget));
            plan.Prefills.Add(chunk);
            budget -= chunk.Length;
            request.PrefillCursor += chunk.Length;
            if (!chunk.CompletesPrompt)
            {
                i++;
                continue;
            }

            // Its prefill samples its first token this step, and it decodes in this step's forward already.
            _prefilling.RemoveAt(i);
            request.State = RequestState.Decoding;
            _decoding.Add(request);
            plan.Decodes.Add(request);
        }
    }

    /// <summary>Takes an ended request out of the running set (idempotent: only the first call counts).</summary>
    public void Forget(ActiveRequest request)
    {
        if (!request.IsRunning)
        {
            return;
        }

        request.IsRunning = false;
        if (!_decoding.Remove(request))
        {
            _prefilling.Remove(request);
        }

        Interlocked.Decrement(ref _running);
    }

    private void EndCancelled(List<ActiveRequest> running, StepPlan plan)
    {
        for (var i = running.Count - 1; i >= 0; i--)
        {
            var request = running[i];
            if (request.Cancellation.IsCancellationRequested)
            {
                Forget(request);
                plan.Ended.Add((request, RequestOutcome.Completed(FinishReason.Cancelled)));
            }
        }
    }

    private Admission TryAdmit(ActiveRequest request)
    {
        if (_running >= _maxBatchSize)
        {
            return Admission.Full;
        }

        var handle = request.Handle;
        var prompt = request.Prompt;
        // A restore that does not fit yet waits, as a reservation does, for running generations to finish.
        if (request.Staged is { } staged && !staged.TryApply(request, canWait: _running > 0))
        {
            return Admission.Blocked;
        }

        // Reuse the longest common prefix, but always compute at least the last prompt token: its logits give the
        // first reply token.
        var keep = KvPrefix.Common(handle.Tokens, prompt, prompt.Length - 1);
        // The KV its sequence holds at its longest: the handle's memory grows inside this reservation, the part of its
        // cache past the common prefix included (dropped only once admitted: a request that keeps waiting, and may
        // time out, leaves its handle exactly as it was).
        var tokens = (long)prompt.Length + request.MaxNewTokens;
        var bytes = tokens * _pool.BytesPerToken;
        if (!_pool.TryReserve(bytes, handle))
        {
            if (_running > 0)
            {
                return Admission.Blocked; // room frees up as running generations finish
            }

            _plan.Ended.Add((request, RequestOutcome.Failed(new InvalidGenerationRequestException(
                $"the request needs {tokens} tokens of KV cache ({bytes} bytes), more than the budget of {_pool.BudgetBytes} bytes allows"))));
            return Admission.Refused;
        }

        request.ReservedBytes = bytes;
        request.CachedTokens = keep;
        request.ComputedTokens = prompt.Length - keep;
        request.PrefillCursor = keep;
        request.State = RequestState.Prefilling;
        request.AdmittedTimestamp = _now;
        // Sized once for the whole turn, so neither prefill nor decode grows the handle's token list step by step.
        handle.TokenList.EnsureCapacity(prompt.Length + request.MaxNewTokens);
        request.IsRunning = true;
        Interlocked.Increment(ref _running);
        _prefilling.Add(request);
        _plan.Admitted.Add(request);
        _metrics.Admitted(prompt.Length, keep, Stopwatch.GetElapsedTime(request.EnqueuedTimestamp, _now).TotalSeconds);
        return Admission.Admitted;
    }
}
