using System.Diagnostics;
using System.Runtime.InteropServices;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// Continuous batching on a dedicated thread. Each step: drop cancelled requests, admit waiting ones (prefix
/// reuse, KV reservation), prefill within the step's token budget (chunked, so a long prompt never stalls the
/// running streams), then one batched decode forward over every running row. Requests join and leave between
/// steps; callers never run inference on their own threads.
/// </summary>
internal sealed class StepScheduler : IDisposable
{
    private readonly ModelRunner _runner;
    private readonly KvCachePool _pool;
    private readonly EngineOptions _options;
    private readonly EngineMetrics _metrics;
    private readonly IKvStrategy _kv;
    private readonly WaitingQueue _waiting;
    private readonly List<ActiveRequest> _prefilling = [];
    private readonly List<(ActiveRequest Request, FinishReason Reason, string Text)> _finishing = [];
    private readonly IDecodeBatch _batch;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _running;

    /// <summary>Drives <paramref name="kv"/> (the runner's layout) and disposes it with itself.</summary>
    public StepScheduler(ModelRunner runner, IKvStrategy kv, KvCachePool pool, EngineOptions options, EngineMetrics metrics)
    {
        _runner = runner;
        _pool = pool;
        _options = options;
        _metrics = metrics;
        _waiting = new WaitingQueue(options.MaxQueueLength, options.MaxQueueWait);
        _kv = kv;
        _batch = _kv.Batch;
        _thread = new Thread(Loop) { IsBackground = true, Name = "autoglm-engine-scheduler" };
        _thread.Start();
    }

    public int Waiting => _waiting.Count;

    public int Running => Volatile.Read(ref _running);

    public long Steps { get; private set; }

    public long Repacks => _batch.Repacks;

    /// <summary>Where the KV lives and how much of it moved between buffers.</summary>
    public KvTraffic KvTraffic => _kv.Traffic;

    /// <summary>Stopwatch ticks spent in decode forwards (re-packs included).</summary>
    public long DecodeForwardTicks { get; private set; }

    /// <summary>Stopwatch ticks spent after decode forwards: sampling, detokenizing, streaming, finishing rows.</summary>
    public long DecodeEmitTicks { get; private set; }

    /// <summary>Queues a request; a full queue is refused at once with <see cref="EngineOverloadedException"/>.</summary>
    public void Enqueue(ActiveRequest request)
    {
        // Registered before it is queued: the scheduler may end it (expired, cancelled) at once, and disposes this.
        request.CancellationRegistration = request.Cancellation.Register(static s => ((StepScheduler)s!).Wake(), this);
        try
        {
            ObjectDisposedException.ThrowIf(!_waiting.TryAdd(request), this);
        }
        catch
        {
            request.CancellationRegistration.Dispose();
            throw;
        }

        Wake();
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
        {
            _wake.Release();
        }
    }

    private void Loop()
    {
        while (!_stopping)
        {
            try
            {
                DropCancelled();
                DropExpired();
                Admit();
                if (_prefilling.Count == 0 && _batch.Count == 0)
                {
                    _wake.Wait(TimeSpan.FromMilliseconds(250));
                    continue;
                }

                var budget = _options.MaxTokensPerStep - _batch.Count;
                PrefillWithin(budget);
                if (_batch.Count > 0)
                {
                    DecodeStep();
                }

                Steps++;
            }
            catch (Exception ex) when (!_stopping)
            {
                // A bug must not kill the engine: fail what was running, keep serving the rest.
                FailRunning(ex);
            }
        }

        FailEverything(new ObjectDisposedException(nameof(StepScheduler), "the inference engine stopped"));
    }

    private void DropCancelled()
    {
        foreach (var request in _waiting.TakeCancelled())
        {
            Complete(request, FinishReason.Cancelled, string.Empty);
        }

        for (var i = _prefilling.Count - 1; i >= 0; i--)
        {
            if (_prefilling[i].Cancellation.IsCancellationRequested)
            {
                var request = _prefilling[i];
                _prefilling.RemoveAt(i);
                Complete(request, FinishReason.Cancelled, string.Empty);
            }
        }

        var rows = _batch.Rows;
        for (var i = rows.Count - 1; i >= 0; i--)
        {
            var row = rows[i];
            if (row.Cancellation.IsCancellationRequested)
            {
                _batch.Leave(row);
                Complete(row, FinishReason.Cancelled, string.Empty);
            }
        }
    }

    /// <summary>
    /// Refuses as overloaded every request that waited past the queue's limit. It runs before admission, so no
    /// request starts after waiting longer than that, and a refused one never touched the KV: only its handle goes back.
    /// </summary>
    private void DropExpired()
    {
        foreach (var request in _waiting.TakeExpired(Stopwatch.GetTimestamp()))
        {
            _metrics.QueueTimedOut();
            Reject(request, new EngineOverloadedException(_waiting.MaxWait, _waiting.Count));
        }
    }

    private void Admit()
    {
        while (Running < _options.MaxBatchSize && _waiting.Peek() is { } request)
        {
            var handle = request.Handle;
            var prompt = request.Prompt;
            if (request.Staged is { } staged && !staged.TryApply(request, canWait: Running > 0))
            {
                return; // a restore that does not fit yet waits, as a reservation does, for running generations to finish
            }

            // Reuse the longest common prefix, but always compute at least the last prompt token: its logits
            // give the first reply token.
            var keep = KvPrefix.Common(handle.Tokens, prompt, prompt.Length - 1);
            var needed = (long)(prompt.Length - keep) + request.Request.Sampling.MaxNewTokens;
            // The cache past the common prefix is dropped only once admitted (the pool counts it as free meanwhile):
            // a request that keeps waiting, and may time out, leaves its handle exactly as it was.
            if (!_pool.TryReserve(needed, handle.CachedTokenCount - keep))
            {
                if (Running > 0)
                {
                    return; // room frees up when running generations finish
                }

                _waiting.RemoveFirst();
                Fail(request, new InvalidGenerationRequestException(
                    $"the request needs {needed} tokens of KV cache ({needed * _pool.BytesPerToken} bytes), more than the budget of {_pool.BudgetBytes} bytes allows"));
                continue;
            }

            _waiting.RemoveFirst();
            request.ReservedTokens = needed;
            try
            {
                Truncate(handle, keep);
            }
            catch (Exception ex)
            {
                Fail(request, ex); // out of the queue and not prefilling: it must end here, not hang
                continue;
            }

            request.CachedTokens = keep;
            request.ComputedTokens = prompt.Length - keep;
            request.PrefillCursor = keep;
            request.State = RequestState.Prefilling;
            request.AdmittedTimestamp = Stopwatch.GetTimestamp();
            _prefilling.Add(request);
            request.CountedRunning = true;
            Interlocked.Increment(ref _running);
            _metrics.Admitted(prompt.Length, keep, Stopwatch.GetElapsedTime(request.EnqueuedTimestamp, request.AdmittedTimestamp).TotalSeconds);
        }
    }

    private void Truncate(KvCacheHandle handle, int keep)
    {
        if (keep >= handle.CachedTokenCount)
        {
            return;
        }

        if (keep == 0)
        {
            handle.DropCache();
            return;
        }

        _kv.Truncate(handle, keep);
        handle.TokenList.RemoveRange(keep, handle.TokenList.Count - keep);
    }

    private void PrefillWithin(int budget)
    {
        for (var i = 0; i < _prefilling.Count && budget > 0;)
        {
            var request = _prefilling[i];
            var chunk = Math.Min(request.Prompt.Length - request.PrefillCursor, budget);
            budget -= chunk;
            bool done;
            try
            {
                done = PrefillChunk(request, chunk);
            }
            catch (Exception ex)
            {
                _prefilling.RemoveAt(i);
                Fail(request, ex);
                continue;
            }

            if (!done)
            {
                i++;
                continue;
            }

            _prefilling.RemoveAt(i);
            if (request.State == RequestState.Finished)
            {
                continue;
            }

            request.State = RequestState.Decoding;
            _batch.Join(request);
        }

        ApplyFinishing();
    }

    /// <summary>Prefills one chunk; true when the prompt is complete (the first token was sampled).</summary>
    private bool PrefillChunk(ActiveRequest request, int chunk)
    {
        var handle = request.Handle;
        var started = Stopwatch.GetTimestamp();
        var tokens = request.Prompt.AsSpan(request.PrefillCursor, chunk);
        using var result = _kv.Prefill(handle, tokens, request.Prompt.Length);
        handle.TokenList.AddRange(tokens);
        request.PrefillCursor += chunk;
        Consume(request, chunk);
        _metrics.Prefill(Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (request.PrefillCursor < request.Prompt.Length)
        {
            return false;
        }

        var token = request.Sampler.Sample(result.LastLogits(0), CollectionsMarshal.AsSpan(request.Context));
        OnToken(request, token);
        return true;
    }

    private void DecodeStep()
    {
        var started = Stopwatch.GetTimestamp();
        IStepLogits result;
        try
        {
            result = _batch.Step();
        }
        catch (Exception ex)
        {
            FailBatch(ex);
            return;
        }

        var forwardDone = Stopwatch.GetTimestamp();
        DecodeForwardTicks += forwardDone - started;
        using (result)
        {
            var rows = _batch.Rows;
            _metrics.DecodeStep(Stopwatch.GetElapsedTime(started, forwardDone).TotalSeconds, rows.Count);
            for (var r = 0; r < rows.Count; r++)
            {
                var row = rows[r];
                Consume(row, 1);
                var token = row.Sampler.Sample(result.LastLogits(r), CollectionsMarshal.AsSpan(row.Context));
                OnToken(row, token);
            }
        }

        ApplyFinishing();
        DecodeEmitTicks += Stopwatch.GetTimestamp() - forwardDone;
    }

    private void Consume(ActiveRequest request, int tokens)
    {
        // Cached tokens now count as used bytes; the reservation shrinks by as much.
        var n = Math.Min(tokens, request.ReservedTokens);
        request.ReservedTokens -= n;
        _pool.Unreserve(n);
    }

    /// <summary>Streams a sampled token; queues the request to finish when the token ends it.</summary>
    private void OnToken(ActiveRequest request, int token)
    {
        var now = Stopwatch.GetTimestamp();
        if (request.FirstTokenTimestamp == 0)
        {
            request.FirstTokenTimestamp = now;
            _metrics.FirstToken(Stopwatch.GetElapsedTime(request.EnqueuedTimestamp, now).TotalSeconds);
            _metrics.Token(-1);
        }
        else
        {
            _metrics.Token(Stopwatch.GetElapsedTime(request.LastTokenTimestamp, now).TotalSeconds);
        }

        request.LastTokenTimestamp = now;
        if (request.IsStopToken(token))
        {
            QueueFinish(request, FinishReason.Stop, FlushText(request));
            return;
        }

        request.Generated++;
        request.Context.Add(token);
        request.PendingToken = token;
        var text = request.Detokenizer.Push(token);
        if (request.StopMatcher is not null)
        {
            var (emit, stopped) = request.StopMatcher.Push(text);
            if (stopped)
            {
                request.Output.Writer.TryWrite(new GenerationChunk(token, emit));
                QueueFinish(request, FinishReason.StopSequence, string.Empty);
                return;
            }

            text = emit;
        }

        request.Output.Writer.TryWrite(new GenerationChunk(token, text));
        if (request.Generated >= request.Request.Sampling.MaxNewTokens)
        {
            QueueFinish(request, FinishReason.Length, FlushText(request));
        }
    }

    private static string FlushText(ActiveRequest request)
    {
        var text = request.Detokenizer.Flush();
        if (request.StopMatcher is null)
        {
            return text;
        }

        var (emit, stopped) = request.StopMatcher.Push(text);
        return stopped ? emit : emit + request.StopMatcher.Flush();
    }

    private void QueueFinish(ActiveRequest request, FinishReason reason, string text)
    {
        request.State = RequestState.Finished;
        _finishing.Add((request, reason, text));
    }

    private void ApplyFinishing()
    {
        foreach (var (request, reason, text) in _finishing)
        {
            _batch.Leave(request);
            Complete(request, reason, text);
        }

        _finishing.Clear();
    }

    private void Complete(ActiveRequest request, FinishReason reason, string text)
    {
        LeaveRunning(request);

        request.State = RequestState.Finished;
        _pool.Unreserve(request.ReservedTokens);
        request.ReservedTokens = 0;
        _pool.Deactivate(request.Handle);
        request.CancellationRegistration.Dispose();
        request.Release();
        request.Output.Writer.TryWrite(new GenerationChunk(null, text, reason, request.Usage()));
        request.Output.Writer.TryComplete();
        _metrics.Finished(reason.ToString().ToLowerInvariant(), Stopwatch.GetElapsedTime(request.EnqueuedTimestamp).TotalSeconds);
    }

    private void LeaveRunning(ActiveRequest request)
    {
        if (request.CountedRunning)
        {
            request.CountedRunning = false;
            Interlocked.Decrement(ref _running);
        }
    }

    private void Fail(ActiveRequest request, Exception error)
    {
        LeaveRunning(request);

        request.State = RequestState.Finished;
        // After a failed forward the handle's KV may not match its tokens: forget it, the next turn recomputes.
        request.Handle.DropCache();
        _pool.Unreserve(request.ReservedTokens);
        request.ReservedTokens = 0;
        _pool.Deactivate(request.Handle);
        request.CancellationRegistration.Dispose();
        request.Release();
        request.Output.Writer.TryComplete(error);
    }

    /// <summary>Ends a request that was never admitted: it reserved nothing and its handle's KV is untouched.</summary>
    private void Reject(ActiveRequest request, Exception error)
    {
        request.State = RequestState.Finished;
        request.CancellationRegistration.Dispose();
        request.Release();
        _pool.Deactivate(request.Handle);
        request.Output.Writer.TryComplete(error);
    }

    private void FailBatch(Exception error)
    {
        // Joiners too: a step that failed while admitting them may have moved only some into the rows.
        var rows = _batch.Rows.Concat(_batch.Joining).ToArray();
        _batch.Reset();
        foreach (var row in rows)
        {
            Fail(row, error);
        }
    }

    private void FailRunning(Exception error)
    {
        _finishing.Clear();
        foreach (var request in _prefilling)
        {
            Fail(request, error);
        }

        _prefilling.Clear();
        FailBatch(error);
    }

    private void FailEverything(Exception error)
    {
        FailRunning(error);
        foreach (var request in _waiting.TakeAll())
        {
            Reject(request, error);
        }
    }

    public void Dispose()
    {
        // Closed first: a submission either lands before it, and FailEverything ends it, or is refused.
        _waiting.Close();
        _stopping = true;

        Wake();
        _thread.Join();
        _kv.Dispose();
        _wake.Dispose();
    }
}
