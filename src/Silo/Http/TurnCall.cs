using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// One turn served over HTTP: the conversation grain's reply stream, as one path for every endpoint.
/// <list type="bullet">
/// <item>Retried server-side (same request id) while the turn is cut before it produced anything: its grain's silo
/// died (each retry waits until the cluster's view changes, within <see cref="HttpTurnOptions.FailoverWait"/>), or it
/// is moving off a silo that is shutting down (until it has moved). After the first chunk a cut is the client's to retry, with the same key.</item>
/// <item>Tracked by the silo's drain: a shutdown whose deadline passes ends it with <see cref="Interruption"/>,
/// which the endpoint reports as an explicit error, never as a silent end.</item>
/// </list>
/// </summary>
public sealed class TurnCall : IAsyncDisposable
{
    private static readonly TimeSpan MovedRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MembershipPoll = TimeSpan.FromMilliseconds(100);

    // A conversation moving off a draining silo answers "moved" until its activation is on the next silo: keep asking.
    private const int MaxMovedRetries = 50;

    private readonly CancellationTokenSource _cancel;
    private readonly IDisposable _tracking;
    private IAsyncEnumerator<ReplyChunk>? _stream;
    private volatile Exception? _interruption;

    private TurnCall(CancellationTokenSource cancel, SiloDrain drain)
    {
        _cancel = cancel;
        _tracking = drain.TrackRequest(Interrupt);
    }

    public ReplyChunk Current => _stream!.Current;

    public CancellationToken Token => _cancel.Token;

    /// <summary>Why the turn was ended from this side (shutdown deadline, turn timeout); null when it was not.</summary>
    public Exception? Interruption => _interruption;

    /// <summary>Starts the turn and moves to its first chunk (or throws the turn's refusal).</summary>
    public static async Task<TurnCall> StartAsync(IGrainFactory grains, SiloDrain drain, IClusterMembershipService membership,
        string conversationId, TurnRequest request, TimeSpan? timeout, TimeSpan failoverWait, CancellationToken requestAborted)
    {
        if (drain.IsDraining)
        {
            throw new ConversationMovedException("this silo is shutting down and takes no new turns; send the request to another silo");
        }

        var cancel = CancellationTokenSource.CreateLinkedTokenSource(requestAborted);
        var call = new TurnCall(cancel, drain);
        if (timeout is { } limit)
        {
            _ = ExpireAsync(call, limit);
        }

        try
        {
            var grain = grains.GetGrain<IConversationGrain>(conversationId);
            var failover = System.Diagnostics.Stopwatch.StartNew();
            for (var attempt = 0; ; attempt++)
            {
                var version = membership.CurrentSnapshot.Version;
                call._stream = grain.SendStreaming(request, cancel.Token).GetAsyncEnumerator(cancel.Token);
                try
                {
                    if (!await call._stream.MoveNextAsync())
                    {
                        throw new ConversationException($"conversation '{conversationId}': the reply ended without a chunk");
                    }

                    return call;
                }
                // The silo's death may show in the membership (a suspicion, a vote) before it is declared dead: a cut
                // before the first chunk is retried until the failover wait is spent, never once only.
                catch (Exception ex) when (!cancel.IsCancellationRequested && IsCutBeforeStart(ex)
                    && (attempt == 0 || (ex is ConversationMovedException ? attempt < MaxMovedRetries : failover.Elapsed < failoverWait)))
                {
                    await DisposeQuietlyAsync(call._stream);
                    call._stream = null;
                    if (ex is ConversationMovedException)
                    {
                        await Task.Delay(MovedRetryDelay, cancel.Token);
                    }
                    else
                    {
                        await WaitForMembershipChangeAsync(membership, version, failoverWait, cancel.Token);
                    }
                }
            }
        }
        catch
        {
            await call.DisposeAsync();
            throw;
        }
    }

    public async ValueTask<bool> MoveNextAsync()
    {
        try
        {
            return await _stream!.MoveNextAsync();
        }
        catch (OperationCanceledException) when (_interruption is { } reason)
        {
            throw reason;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _tracking.Dispose();
        if (_stream is not null)
        {
            await DisposeQuietlyAsync(_stream);
        }

        _cancel.Dispose();
    }

    private void Interrupt(Exception reason)
    {
        _interruption ??= reason;
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static async Task ExpireAsync(TurnCall call, TimeSpan timeout)
    {
        try
        {
            await Task.Delay(timeout, call._cancel.Token);
            call.Interrupt(new TurnInterruptedException(
                $"the turn did not finish within {timeout} and was cancelled; retry with the same Idempotency-Key (a reply stored meanwhile is returned)"));
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>The grain's silo went away, or the conversation is leaving a stopping silo: nothing ran yet, a retry is safe.</summary>
    private static bool IsCutBeforeStart(Exception exception) =>
        exception is ConversationMovedException or TurnInterruptedException || Interruptions.IsInterruption(exception);

    /// <summary>Waits until the cluster's view changes (the dead silo declared dead), so the retry places the grain anew.</summary>
    private static async Task WaitForMembershipChangeAsync(IClusterMembershipService membership, MembershipVersion seen, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (membership.CurrentSnapshot.Version == seen && watch.Elapsed < wait)
        {
            await Task.Delay(MembershipPoll, cancellationToken);
        }
    }

    private static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<ReplyChunk> stream)
    {
        try
        {
            await stream.DisposeAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The silo that held the stream is gone, or the stream failed: nothing left to release there.
        }
    }
}
