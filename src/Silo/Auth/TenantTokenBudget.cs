using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.RateLimiting;
using AutoGlm.Orleans.Grains.Tenancy;

namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>
/// Tokens per minute per tenant: a token bucket of <c>tokens_per_minute</c>, refilled each second. A turn takes its
/// worst case up front (the new message's characters, a generous bound on its tokens, plus the tokens it may
/// generate), so a tenant cannot start more work than its budget; a turn past it is refused with 429 before it costs
/// anything.
/// </summary>
public sealed class TenantTokenBudget : IDisposable
{
    private readonly ConcurrentDictionary<string, TokenBucketRateLimiter> _buckets = new(StringComparer.Ordinal);

    /// <summary>A turn's worst case: every character of the message a token, plus the reply's token limit.</summary>
    public static int Estimate(string message, int? maxNewTokens) => message.Length + (maxNewTokens ?? 256);

    /// <summary>Takes <paramref name="tokens"/> of the tenant's budget; false (with when to retry) when it is spent.</summary>
    public bool TryTake(ApiKeyEntry entry, int tokens, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (entry.TokensPerMinute is not { } perMinute)
        {
            return true;
        }

        var bucket = _buckets.GetOrAdd(string.Create(CultureInfo.InvariantCulture, $"{entry.Tenant}|{perMinute}"), _ =>
            new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = perMinute,
                TokensPerPeriod = Math.Max(1, perMinute / 60),
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        using var lease = bucket.AttemptAcquire(Math.Min(tokens, perMinute));
        if (lease.IsAcquired)
        {
            return true;
        }

        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
        return false;
    }

    /// <summary>Takes a turn's worst case from the caller's budget, or refuses the request with 429 before it costs anything.</summary>
    /// <exception cref="Http.HttpApiException">429 rate_limit_exceeded, with when to retry.</exception>
    public void Take(HttpContext context, string message, int? maxNewTokens)
    {
        var entry = context.Entry();
        if (!TryTake(entry, Estimate(message, maxNewTokens), out var retryAfter))
        {
            throw new Http.HttpApiException(StatusCodes.Status429TooManyRequests, "rate_limit_exceeded",
                $"rate limit reached for tenant '{entry.Tenant}': {entry.TokensPerMinute} tokens per minute", retryAfter: retryAfter);
        }
    }

    public void Dispose()
    {
        foreach (var bucket in _buckets.Values)
        {
            bucket.Dispose();
        }
    }
}
