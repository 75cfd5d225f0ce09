using AutoGlm.Orleans.Silo;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>An API without keys is only served on loopback, unless the operator says otherwise.</summary>
public sealed class OpenApiRuleTests
{
    [Fact]
    public async Task A_silo_without_keys_on_a_non_loopback_address_refuses_to_start_unless_anonymous_is_allowed()
    {
        string[] common =
        [
            "--http-port", "18999", "--http-host", "0.0.0.0", "--silo-port", "18998", "--gateway-port", "18997",
            "--model", RepositoryPaths.DefaultModel, "--Engine:IntraOpThreads", "1", "--Logging:LogLevel:Default", "Warning",
            .. Support.SiloLogs.QuietConsole,
        ];
        var refused = Assert.Throws<InvalidOperationException>(() => SiloHost.Build(common));
        Assert.Contains("--api-keys-file", refused.Message, StringComparison.Ordinal);

        await using var allowed = SiloHost.Build([.. common, "--Auth:AllowAnonymous", "true"]);
        Assert.NotNull(allowed.Services);
    }
}
