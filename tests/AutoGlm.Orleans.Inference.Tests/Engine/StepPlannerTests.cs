using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;
using AutoGlm.Orleans.Inference.Scheduling;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// Planning without a model: which requests a step admits, which prompt chunks it computes, which rows decode and
/// which requests it ends. The pool counts one byte a token, so budgets read as tokens.
/// </summary>
public sealed class StepPlannerTests : IDisposable
{
    private readonly EngineMetrics _metrics = new(() => default);
    private readonly StepPlan _plan = new();
    private KvCachePool _pool = null!;
    private WaitingQueue _queue = null!;
    private StepPlanner _planner = null!;

    public void Dispose() => _metrics.Dispose();

    private void Create(int budgetTokens = 10_000, int maxBatch = 8, int maxTokensPerStep = 64, int maxOvertakes = 8, TimeSpan? maxWait = null)
    {
        _pool = new KvCachePool(budgetTokens, bytesPerToken: 1);
        _queue = new WaitingQueue(16, maxWait ?? TimeSpan.FromSeconds(30), maxOvertakes);
        _planner = new StepPlanner(_queue, _pool, maxBatch, maxTokensPerStep, _metrics);
    }

    private ActiveRequest Queued(string id, int prompt, int maxNew, CancellationTokenSource? cancel = null)
    {
        var request = Requests.Create(_pool, id, prompt, maxNew, cancel: cancel);
        Assert.True(_queue.TryAdd(request));
        return request;
    }

    private StepPlan Plan(long? now = null)
    {
        _planner.Schedule(_plan, now ?? Stopwatch.GetTimestamp(), lookForCancelled: true);
        return _plan;
    }

    /// <summary>What the finisher does to the planner and the pool when a request ends (RequestFinisherTests covers it).</summary>
    private void End(ActiveRequest request)
    {
        request.State = RequestState.Finished;
        _planner.Forget(request);
        _pool.Unreserve(request.ReservedBytes, request.Handle);
        _pool.Deactivate(request.Handle);
    }

    [Fact]
    public void Prompts_are_chunked_oldest_first_within_the_step_budget_and_decode_from_the_step_they_complete()
    {
        Create(maxTokensPerStep: 64);
        var first = Queued("first", 100, 8);
        var second = Queued("second", 50, 8);

        var plan = Plan();
        Assert.Equal([first, second], plan.Admitted);
        Assert.Equal([new PrefillChunk(first, 0, 64)], plan.Prefills);
        Assert.Empty(plan.Decodes);

        plan = Plan();
        Assert.Empty(plan.Admitted);
        Assert.Equal([new PrefillChunk(first, 64, 36), new PrefillChunk(second, 0, 28)], plan.Prefills);
        Assert.Equal([first], plan.Decodes); // its prompt completes this step: it decodes in it too

        plan = Plan();
        Assert.Equal([new PrefillChunk(second, 28, 22)], plan.Prefills); // 63 tokens beside the one decode row
        Assert.Equal([first, second], plan.Decodes);

        plan = Plan();
        Assert.Empty(plan.Prefills);
        Assert.Equal([first, second], plan.Decodes);
        Assert.False(plan.IsIdle);
        Assert.Equal(2, _planner.Running);
        Assert.Equal(new long[] { 108, 58 }, new[] { first.ReservedBytes, second.ReservedBytes }); // prompt + max new tokens
    }

    [Fact]
    public void A_big_request_waiting_for_kv_room_does_not_hold_back_a_small_one_that_fits()
    {
        Create(budgetTokens: 100);
        var running = Queued("running", 10, 40);
        Assert.Equal([running], Plan().Admitted);

        var big = Queued("big", 10, 60); // 70 tokens: more than the 50 left while "running" runs
        var small = Queued("small", 5, 20);
        var plan = Plan();

        Assert.Equal([small], plan.Admitted);
        Assert.Empty(plan.Ended);
        Assert.Same(big, _queue.Peek());
        Assert.Equal(RequestState.Waiting, big.State);
        Assert.Equal(1, big.Overtaken);

        // Once room frees up, the big one goes first.
        End(running);
        Assert.Equal([big], Plan().Admitted);
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public void A_request_that_does_not_fit_is_passed_at_most_max_overtakes_times()
    {
        Create(budgetTokens: 100, maxOvertakes: 1);
        var running = Queued("running", 10, 40);
        Plan();
        var big = Queued("big", 10, 60);
        var small1 = Queued("small-1", 5, 10);
        var small2 = Queued("small-2", 5, 10);

        Assert.Equal([small1], Plan().Admitted); // small-2 fits too, but big was passed once already
        Assert.Empty(Plan().Admitted);
        Assert.Equal(2, _queue.Count);

        End(running);
        End(small1);
        Assert.Equal([big, small2], Plan().Admitted);
    }

    [Fact]
    public void A_request_larger_than_the_whole_budget_is_refused_when_nothing_runs()
    {
        Create(budgetTokens: 100);
        var huge = Queued("huge", 50, 51);
        var fits = Queued("fits", 10, 10);

        var plan = Plan();

        var (ended, outcome) = Assert.Single(plan.Ended);
        Assert.Same(huge, ended);
        Assert.Contains("101 tokens of KV cache", Assert.IsType<InvalidGenerationRequestException>(outcome.Error).Message);
        Assert.Equal([fits], plan.Admitted);
    }

    [Fact]
    public void A_cancelled_request_ends_in_the_plan_and_its_place_goes_to_the_next_one_in_the_same_step()
    {
        Create(maxBatch: 1);
        using var cancel = new CancellationTokenSource();
        var running = Queued("running", 10, 10, cancel);
        Plan();
        var next = Queued("next", 10, 10);
        Assert.Empty(Plan().Admitted); // the batch is full

        cancel.Cancel();
        var plan = Plan();

        Assert.Equal([(running, RequestOutcome.Completed(FinishReason.Cancelled))], plan.Ended);
        Assert.Equal([next], plan.Admitted);
        Assert.Equal(1, _planner.Running);
    }

    [Fact]
    public void A_request_waiting_past_the_limit_ends_as_overloaded_before_admission()
    {
        Create(maxBatch: 1, maxWait: TimeSpan.FromMilliseconds(10));
        Queued("running", 10, 10);
        Plan();
        var waiting = Queued("waiting", 10, 10);

        var plan = Plan(Stopwatch.GetTimestamp() + Stopwatch.Frequency);

        var (ended, outcome) = Assert.Single(plan.Ended);
        Assert.Same(waiting, ended);
        Assert.IsType<EngineOverloadedException>(outcome.Error);
        Assert.Equal(0, _queue.Count);
    }

    [Fact]
    public void Planning_a_step_allocates_nothing()
    {
        Create(maxBatch: 8, maxTokensPerStep: 256);
        for (var i = 0; i < 8; i++)
        {
            Queued($"r{i}", 10, 1000);
        }

        Plan();
        Plan();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Plan();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(8, _plan.Decodes.Count);
    }
}
