using AutoGlm.Orleans.Grains.Storage;

namespace AutoGlm.Orleans.Grains.Tests;

/// <summary>The store's own connection settings must not drop what the operator put in the connection string.</summary>
public sealed class RedisConnectionsTests
{
    [Fact]
    public void A_password_and_TLS_in_the_connection_string_reach_the_store()
    {
        var options = RedisConnections.Options("redis.internal:6380,password=s3cret,user=autoglm,ssl=true,sslHost=redis.internal");

        Assert.Equal("s3cret", options.Password);
        Assert.Equal("autoglm", options.User);
        Assert.True(options.Ssl);
        Assert.Equal("redis.internal", options.SslHost);
        // And the store's own policy still applies on top.
        Assert.False(options.AbortOnConnectFail);
    }
}
