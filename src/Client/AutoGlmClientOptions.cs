namespace AutoGlm.Orleans.Client;

/// <summary>How a client reaches the cluster: a localhost silo's gateway, or the silos Redis lists.</summary>
public sealed class AutoGlmClientOptions
{
    /// <summary>Redis connection string (the silos' <c>Redis:ConnectionString</c>); localhost clustering when null.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>The localhost silo's gateway port (localhost clustering only).</summary>
    public int GatewayPort { get; set; } = 30000;

    public string ClusterId { get; set; } = "autoglm";

    public string ServiceId { get; set; } = "autoglm";

    /// <summary>The tenant this client acts for: its conversation ids are namespaced by it.</summary>
    public string Tenant { get; set; } = Abstractions.ConversationKeys.DefaultTenant;

    /// <summary>The tenant's API key (from the silos' keys file); required when the silos have one.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Mutual TLS to the gateways (the silos' <c>Orleans:Tls</c>); off unless its certificate is set.</summary>
    public AutoGlmTlsOptions Tls { get; } = new();
}
