using System.Globalization;
using System.Threading.RateLimiting;
using AutoGlm.Orleans.Silo.Http;
using Microsoft.AspNetCore.RateLimiting;

namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>
/// Per-tenant limits on ASP.NET Core's rate limiter, each tenant in a partition of its own (one tenant's limit never
/// slows another): requests per minute on every API route (a fixed one-minute window), concurrent turns on the turn
/// routes; tokens per minute are <see cref="TenantTokenBudget"/>'s. Past a limit: 429 <c>rate_limit_exceeded</c> with
/// Retry-After and OpenAI's <c>x-ratelimit-*</c> headers. Keys without limits are not limited.
/// </summary>
public static class TenantRateLimits
{
    public static IServiceCollection AddTenantRateLimits(this IServiceCollection services)
    {
        services.AddSingleton<TenantTokenBudget>();
        return services.AddRateLimiter(o =>
        {
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                context.Features.Get<ApiKeyFeature>()?.Entry is { RequestsPerMinute: { } perMinute } entry
                    ? RateLimitPartition.GetFixedWindowLimiter(Partition(entry.Tenant, perMinute), _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = perMinute, Window = TimeSpan.FromMinutes(1), QueueLimit = 0, AutoReplenishment = true,
                    })
                    : RateLimitPartition.GetNoLimiter(string.Empty));
            o.AddPolicy(Policies.Turns, context =>
                context.Features.Get<ApiKeyFeature>()?.Entry is { MaxConcurrentTurns: { } turns } entry
                    ? RateLimitPartition.GetConcurrencyLimiter(Partition(entry.Tenant, turns), _ => new ConcurrencyLimiterOptions
                    {
                        PermitLimit = turns, QueueLimit = 0,
                    })
                    : RateLimitPartition.GetNoLimiter(string.Empty));
            o.OnRejected = (rejected, cancellationToken) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? after : TimeSpan.FromSeconds(1);
                var entry = rejected.HttpContext.Features.Get<ApiKeyFeature>()?.Entry;
                var concurrency = entry?.MaxConcurrentTurns is not null && rejected.HttpContext.GetEndpoint()?.Metadata
                    .GetMetadata<EnableRateLimitingAttribute>()?.PolicyName == Policies.Turns;
                return new ValueTask(WriteAsync(rejected.HttpContext, retryAfter, concurrency
                    ? $"too many turns at once for tenant '{entry!.Tenant}' (limit {entry.MaxConcurrentTurns}); retry when one ends"
                    : $"rate limit reached for tenant '{entry?.Tenant}': {entry?.RequestsPerMinute} requests per minute",
                    concurrency ? null : entry?.RequestsPerMinute));
            };
        });
    }

    /// <summary>The 429 answer, as OpenAI sends it.</summary>
    public static Task WriteAsync(HttpContext context, TimeSpan retryAfter, string message, int? requestsPerMinute)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        if (requestsPerMinute is { } limit)
        {
            context.Response.Headers["x-ratelimit-limit-requests"] = limit.ToString(CultureInfo.InvariantCulture);
            context.Response.Headers["x-ratelimit-remaining-requests"] = "0";
            context.Response.Headers["x-ratelimit-reset-requests"] = seconds + "s";
        }

        return ErrorResponses.WriteAsync(context, StatusCodes.Status429TooManyRequests, "rate_limit_exceeded", message, retryAfter: retryAfter);
    }

    /// <summary>A tenant's partition, named by its limit too: a reloaded keys file with a new limit starts a new window.</summary>
    private static string Partition(string tenant, int limit) => string.Create(CultureInfo.InvariantCulture, $"{tenant}|{limit}");
}
