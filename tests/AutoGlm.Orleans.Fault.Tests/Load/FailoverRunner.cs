namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// Client-side failover, as a load balancer does it: each attempt goes to one endpoint (the next one on every retry,
/// skipping endpoints that just refused a connection: <see cref="EndpointHealth"/>), a failed attempt is retried with
/// the same key after a growing backoff (or the server's Retry-After when longer), every attempt is recorded.
/// </summary>
public sealed class FailoverRunner(RunClock clock, LoadMonitor monitor, LoadSettings settings, int endpoints)
{
    private readonly EndpointHealth _health = new(clock, endpoints);

    public delegate Task<AttemptResult> Attempt(TurnRecord turn, AttemptRecord attempt, CancellationToken cancellationToken);

    /// <summary>Runs the turn until acknowledged, refused, or out of retries; <paramref name="hard"/> abandons it.</summary>
    public async Task RunAsync(TurnRecord turn, Attempt send, CancellationToken hard)
    {
        ArgumentNullException.ThrowIfNull(turn);
        ArgumentNullException.ThrowIfNull(send);
        try
        {
            var preferred = turn.FirstEndpoint;
            for (var retry = 0; ; retry++)
            {
                var attempt = new AttemptRecord { Retry = retry, Endpoint = _health.Pick(preferred), Started = clock.Now };
                preferred = attempt.Endpoint + 1;
                turn.Attempts.Add(attempt);
                var result = await OneAsync(turn, attempt, send, hard);
                if (attempt.ConnectionRefused)
                {
                    _health.ConnectFailed(attempt.Endpoint);
                }
                if (result.Verdict == AttemptVerdict.Acknowledged)
                {
                    turn.Acknowledged = true;
                    turn.AcknowledgedText = result.Text;
                    turn.AcknowledgedBy = attempt;
                    if (turn.IsMessage)
                    {
                        monitor.Acknowledged(turn.Lane, turn.Started);
                    }

                    return;
                }

                if (result.Verdict == AttemptVerdict.Refused)
                {
                    turn.GaveUp = "refused: " + attempt.Outcome;
                    return;
                }

                if (retry >= settings.MaxRetries)
                {
                    turn.GaveUp = "retries exhausted";
                    return;
                }

                await Task.Delay(settings.Backoff(retry, attempt.RetryAfter), hard);
            }
        }
        catch (OperationCanceledException) when (hard.IsCancellationRequested)
        {
            turn.GaveUp = "abandoned at the end of the run";
        }
        finally
        {
            turn.Ended = clock.Now;
        }
    }

    private async Task<AttemptResult> OneAsync(TurnRecord turn, AttemptRecord attempt, Attempt send, CancellationToken hard)
    {
        monitor.AttemptStarted(turn, attempt);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(hard);
        timeout.CancelAfter(settings.AttemptTimeout);
        try
        {
            return await send(turn, attempt, timeout.Token);
        }
        catch (OperationCanceledException) when (!hard.IsCancellationRequested)
        {
            attempt.Outcome = (attempt.Status is { } status ? $"{status} then " : string.Empty) + "timeout";
            if (attempt.Status == 200)
            {
                attempt.Stream = StreamEnd.Broken;
            }

            return AttemptResult.Retry;
        }
        finally
        {
            attempt.Ended = clock.Now;
            monitor.AttemptEnded(attempt);
        }
    }
}
