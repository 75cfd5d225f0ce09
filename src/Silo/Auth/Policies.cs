namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>Authorization and rate-limiting policy names of the HTTP API.</summary>
public static class Policies
{
    /// <summary>Any valid key (a tenant's API routes).</summary>
    public const string Tenant = "tenant";

    /// <summary>An admin key (operator routes: /metrics, /dashboard).</summary>
    public const string Admin = "admin";

    /// <summary>The rate-limiting policy of routes that run a turn: the tenant's concurrent-turn limit.</summary>
    public const string Turns = "turns";
}
