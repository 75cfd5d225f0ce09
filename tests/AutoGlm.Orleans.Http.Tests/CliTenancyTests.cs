using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>The CLI against the silo with keys: a tenant's key reaches its own conversations, the cluster's status needs an admin key.</summary>
[Collection(KeyedSiloCollection.Name)]
public sealed class CliTenancyTests(KeyedSiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Status_of_every_silo_needs_an_admin_key()
    {
        var denied = await Cli(["status", "--tenant", "acme", "--api-key", KeyedSiloServer.Acme]);
        Assert.True(denied.ExitCode == 1, denied.ToString());
        CliTests.AssertOneLineError(denied, "needs an admin key");

        var admin = await Cli(["status", "--tenant", "ops", "--api-key", KeyedSiloServer.Admin]);
        Assert.True(admin.ExitCode == 0, admin.ToString());
        Assert.Equal(2, admin.StdoutLines.Length);
    }

    [Fact]
    public async Task Another_tenants_conversation_does_not_exist_for_the_cli()
    {
        var id = "cli-acme-" + Guid.NewGuid().ToString("N");
        var send = await Cli(["send", "-c", id, "--max-tokens", "2", "--tenant", "acme", "--api-key", KeyedSiloServer.Acme, "Mine."]);
        Assert.True(send.ExitCode == 0, send.ToString());

        var other = await Cli(["history", "-c", id, "--tenant", "globex", "--api-key", KeyedSiloServer.Globex]);
        Assert.True(other.ExitCode == 1, other.ToString());
        CliTests.AssertOneLineError(other, "does not exist");

        var none = await Cli(["send", "-c", id, "--tenant", "acme", "Steal."]);
        Assert.True(none.ExitCode == 1, none.ToString());
        CliTests.AssertOneLineError(none, "autoglm: ");
    }

    private Task<CliResult> Cli(string[] arguments) => CliProcess.RunAsync([.. arguments, .. CliProcess.Gateway(server)], cancellationToken: Ct);
}
