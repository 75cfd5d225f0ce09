using AutoGlm.Orleans.Abstractions;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>One place that turns Redis failures (down, timed out, still loading its data after a restart) into the typed error.</summary>
internal static class RedisCalls
{
    public static async Task<T> RunAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException or TimeoutException
            || ex is RedisServerException server && IsTransient(server.Message))
        {
            throw new StorageUnavailableException("the conversation store (Redis) is unavailable: " + ex.GetType().Name);
        }
    }

    /// <summary>Errors a restarting or failing-over Redis answers with; any other server error is a bug, not an outage.</summary>
    private static bool IsTransient(string message) =>
        message.StartsWith("LOADING", StringComparison.Ordinal)
        || message.StartsWith("BUSY", StringComparison.Ordinal)
        || message.StartsWith("TRYAGAIN", StringComparison.Ordinal)
        || message.StartsWith("MASTERDOWN", StringComparison.Ordinal)
        || message.StartsWith("READONLY", StringComparison.Ordinal)
        || message.StartsWith("CLUSTERDOWN", StringComparison.Ordinal);
}
