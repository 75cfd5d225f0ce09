using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Sampling;
using AutoGlm.Orleans.Inference.Scheduling;
using AutoGlm.Orleans.Inference.Tests.Support;
using AutoGlm.Orleans.Inference.Text;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>The waiting queue's admission control on its own: bounded length, bounded wait, oldest first.</summary>
public sealed class WaitingQueueTests
{
    private static readonly Lazy<Tokenizer> Tokenizer = new(() =>
        TokenizerLoader.Load(ModelFolder.Load(RepositoryPaths.DefaultModel).Tokenizer, RepositoryPaths.DefaultModel));

    private readonly KvCachePool _pool = new(1 << 20, 1);

    private ActiveRequest Request(string id, CancellationToken? cancellation = null)
    {
        var sampling = EngineFactory.Greedy(4);
        return new ActiveRequest(new GenerationRequest(_pool.GetOrCreate(id), [1], sampling), [1], [],
            new TokenSampler(sampling, 16), new StreamingDetokenizer(Tokenizer.Value), null, cancellation ?? TestContext.Current.CancellationToken);
    }

    private static long Ticks(TimeSpan time) => (long)(time.TotalSeconds * Stopwatch.Frequency);

    [Fact]
    public void Requests_expire_oldest_first_and_only_once_they_waited_longer_than_the_limit()
    {
        var queue = new WaitingQueue(8, TimeSpan.FromMilliseconds(30), maxOvertakes: 8);
        var old = Request("old");
        var young = Request("young");
        Assert.True(queue.TryAdd(old));
        Thread.Sleep(60);
        Assert.True(queue.TryAdd(young));

        Assert.Empty(queue.TakeExpired(old.QueuedTimestamp + Ticks(TimeSpan.FromMilliseconds(29))));
        Assert.Equal([old], queue.TakeExpired(young.QueuedTimestamp));
        Assert.Same(young, queue.Peek());
        Assert.Equal([young], queue.TakeExpired(young.QueuedTimestamp + Ticks(TimeSpan.FromMilliseconds(31))));
        Assert.Equal(0, queue.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Zero_or_infinite_means_no_limit(int milliseconds)
    {
        var queue = new WaitingQueue(8, TimeSpan.FromMilliseconds(milliseconds), maxOvertakes: 8);
        var request = Request("r");
        Assert.True(queue.TryAdd(request));
        Assert.Empty(queue.TakeExpired(request.QueuedTimestamp + Ticks(TimeSpan.FromDays(365))));
        Assert.Same(request, queue.Peek());
    }

    [Fact]
    public void A_full_queue_refuses_at_once_and_a_closed_one_refuses_everything()
    {
        var queue = new WaitingQueue(2, TimeSpan.FromSeconds(30), maxOvertakes: 8);
        Assert.True(queue.TryAdd(Request("a")));
        Assert.True(queue.TryAdd(Request("b")));
        var full = Assert.Throws<EngineOverloadedException>(() => queue.TryAdd(Request("c")));
        Assert.Equal(2, full.QueueLength);
        Assert.Null(full.QueueWait);

        queue.Close();
        queue.TakeAll();
        Assert.False(queue.TryAdd(Request("d")));
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void Cancelled_requests_leave_from_anywhere_and_the_rest_keep_their_order()
    {
        var queue = new WaitingQueue(8, TimeSpan.FromSeconds(30), maxOvertakes: 8);
        using var cancel = new CancellationTokenSource();
        var first = Request("first");
        var cancelled = Request("cancelled", cancel.Token);
        var last = Request("last");
        foreach (var request in new[] { first, cancelled, last })
        {
            Assert.True(queue.TryAdd(request));
        }

        Assert.Empty(queue.TakeCancelled());
        cancel.Cancel();
        Assert.Equal([cancelled], queue.TakeCancelled());
        Assert.Equal([first, last], queue.TakeAll());
    }

    [Fact]
    public void Admission_passes_a_request_that_does_not_fit_but_only_up_to_the_bound_then_waits_for_it()
    {
        var queue = new WaitingQueue(8, TimeSpan.FromSeconds(30), maxOvertakes: 2);
        var big = Request("big");
        var smalls = Enumerable.Range(0, 4).Select(i => Request($"small-{i}")).ToArray();
        foreach (var request in smalls.Prepend(big))
        {
            Assert.True(queue.TryAdd(request));
        }

        var offered = new List<ActiveRequest>();
        var bigBlocked = true;
        Admission Fit(ActiveRequest request)
        {
            offered.Add(request);
            return request == big && bigBlocked ? Admission.Blocked : Admission.Admitted;
        }

        queue.Admit(Fit);
        // Oldest first; the big one stays, two small ones pass it, then the pass stops at it.
        Assert.Equal([big, smalls[0], smalls[1]], offered);
        Assert.Equal(2, big.Overtaken);
        Assert.Same(big, queue.Peek());

        offered.Clear();
        queue.Admit(Fit);
        Assert.Equal([big], offered); // passed enough: first come, first served until it fits
        Assert.Equal(3, queue.Count);

        offered.Clear();
        bigBlocked = false;
        queue.Admit(Fit);
        Assert.Equal([big, smalls[2], smalls[3]], offered);
        Assert.Equal(0, queue.Count);
    }
}
