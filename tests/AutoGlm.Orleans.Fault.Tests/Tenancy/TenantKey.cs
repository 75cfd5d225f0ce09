namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>
/// One entry of a test's keys file: a tenant, a fresh random plain key (the silo hashes it as it loads the file; the
/// test presents it as <c>Authorization: Bearer</c>), and its limits (null: none).
/// </summary>
public sealed record TenantKey(string Tenant, string Key)
{
    public int? RequestsPerMinute { get; init; }

    public int? MaxConcurrentTurns { get; init; }

    public bool Admin { get; init; }

    /// <summary>A key nobody else has: random per run, so finding it in a log can only mean the silo wrote it there.</summary>
    public static TenantKey Create(string tenant) => new(tenant, $"sk-{tenant}-{Guid.NewGuid():N}");
}
