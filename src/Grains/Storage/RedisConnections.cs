using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>How the conversation store connects to Redis.</summary>
public static class RedisConnections
{
    /// <summary>
    /// The store's connection: never abort on a failed connect, and reconnect every 250 ms. While Redis is away,
    /// commands wait for the connection up to the async timeout (5 s unless the connection string sets one): a
    /// restart of a second or two only delays turns, a longer outage fails them as storage_unavailable.
    /// </summary>
    public static ConfigurationOptions Options(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = Math.Min(options.ConnectTimeout, 3000);
        options.ReconnectRetryPolicy = new LinearRetry(250);
        return options;
    }
}
