using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// Continuous batching on a dedicated thread: each step the <see cref="StepPlanner"/> plans (ends, admissions,
/// prefill chunks, decode rows), the plan's ended requests end, and the <see cref="StepExecutor"/> runs the rest.
/// Requests join and leave between steps; callers never run inference on their own threads.
/// </summary>
internal sealed class StepScheduler : IDisposable
{
    private readonly IKvStrategy _kv;
    private readonly WaitingQueue _waiting;
    private readonly StepPlanner _planner;
    private readonly StepExecutor _executor;
    private readonly RequestFinisher _finisher;
    private readonly StepPlan _plan = new();
    private readonly List<ActiveRequest> _ending = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private volatile bool _stopping;
    private int _cancelled;
    private long _steps;
    private long _allocatedBytes;

    /// <summary>Drives <paramref name="kv"/> (the runner's layout) and disposes it with itself.</summary>
    public StepScheduler(IKvStrategy kv, KvCachePool pool, EngineOptions options, EngineMetrics metrics)
    {
        _kv = kv;
        // At most one batch's worth of younger requests may pass one that does not fit (WaitingQueue says why).
        _waiting = new WaitingQueue(options.MaxQueueLength, options.MaxQueueWait, maxOvertakes: options.MaxBatchSize);
        _planner = new StepPlanner(_waiting, pool, options.MaxBatchSize, options.MaxTokensPerStep, metrics);
        _finisher = new RequestFinisher(pool, kv.Batch, _planner, metrics);
        _executor = new StepExecutor(kv, pool, new OutputProcessor(metrics), _finisher, metrics);
        _thread = new Thread(Loop) { IsBackground = true, Name = "autoglm-engine-scheduler" };
        _thread.Start();
    }

    public int Waiting => _waiting.Count;

    public int Running => _planner.Running;

    public long Steps => Interlocked.Read(ref _steps);

    public long Repacks => _kv.Batch.Repacks;

    /// <summary>Where the KV lives and how much of it moved between buffers.</summary>
    public KvTraffic KvTraffic => _kv.Traffic;

    public long DecodeForwardTicks => _executor.DecodeForwardTicks;

    public long DecodeEmitTicks => _executor.DecodeEmitTicks;

    public long DecodedTokens => _executor.DecodedTokens;

    /// <summary>Bytes the scheduler's thread has allocated (GC.GetAllocatedBytesForCurrentThread), as of its last step.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    /// <summary>Queues a request; a full queue is refused at once with <see cref="EngineOverloadedException"/>.</summary>
    public void Enqueue(ActiveRequest request)
    {
        // Registered before it is queued: the scheduler may end it (expired, cancelled) at once, and disposes this.
        request.CancellationRegistration = request.Cancellation.Register(static s => ((StepScheduler)s!).Cancelled(), this);
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

    private void Cancelled()
    {
        Volatile.Write(ref _cancelled, 1);
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
                _planner.Schedule(_plan, Stopwatch.GetTimestamp(), Interlocked.Exchange(ref _cancelled, 0) != 0);
                foreach (var (request, outcome) in _plan.Ended)
                {
                    _finisher.Finish(request, outcome);
                }

                if (_plan.IsIdle)
                {
                    Publish();
                    _wake.Wait(TimeSpan.FromMilliseconds(250));
                    continue;
                }

                _executor.Execute(_plan);
                Interlocked.Increment(ref _steps);
                Publish();
            }
            catch (Exception ex) when (!_stopping)
            {
                // A bug must not kill the engine: fail what was running, keep serving the rest.
                FailRunning(ex);
            }
        }

        FailEverything(new ObjectDisposedException(nameof(StepScheduler), "the inference engine stopped"));
    }

    private void Publish() => Interlocked.Exchange(ref _allocatedBytes, GC.GetAllocatedBytesForCurrentThread());

    private void FailRunning(Exception error)
    {
        _executor.FailBatch(error);
        _ending.Clear();
        _ending.AddRange(_planner.Prefilling);
        _ending.AddRange(_planner.Decoding);
        foreach (var request in _ending)
        {
            _finisher.Finish(request, RequestOutcome.Failed(error));
        }

        _ending.Clear();
    }

    private void FailEverything(Exception error)
    {
        FailRunning(error);
        foreach (var request in _waiting.TakeAll())
        {
            _finisher.Finish(request, RequestOutcome.Failed(error));
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
