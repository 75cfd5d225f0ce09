namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>The size of the load and the client's failover policy (a load balancer's, with retries).</summary>
public sealed record LoadSettings
{
    /// <summary>Client lanes on the native REST API (each one conversation at a time, turns back to back).</summary>
    public int RestLanes { get; init; } = 6;

    /// <summary>Client lanes on /v1/chat/completions through the OpenAI .NET SDK.</summary>
    public int SdkLanes { get; init; } = 6;

    /// <summary>The pause between a lane's turns.</summary>
    public TimeSpan ThinkTime { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>A lane moves to a new conversation after this many turns (~40 tokens a turn: far inside the 2,048-token window).</summary>
    public int MaxTurnsPerConversation { get; init; } = 20;

    public int MaxTokens { get; init; } = 24;

    /// <summary>An attempt with no complete answer by then is abandoned and retried (a load balancer's upstream timeout).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Retries the client will make (more than the bound the test asserts, so the excess is measured, not hidden).</summary>
    public int MaxRetries { get; init; } = 8;

    public TimeSpan FirstBackoff { get; init; } = TimeSpan.FromMilliseconds(300);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMilliseconds(2400);

    /// <summary>The longest server Retry-After the client honours.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    public string Model { get; init; } = "tiny-chat";

    public int Lanes => RestLanes + SdkLanes;

    /// <summary>300 ms, 600 ms, 1.2 s, 2.4 s, 2.4 s …, or the server's Retry-After when that is longer (up to <see cref="MaxRetryAfter"/>).</summary>
    public TimeSpan Backoff(int retry, TimeSpan? retryAfter = null)
    {
        var backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, FirstBackoff.Ticks << Math.Min(retry, 16)));
        return retryAfter is { } after && after > backoff ? (after < MaxRetryAfter ? after : MaxRetryAfter) : backoff;
    }
}
