using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Http.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// Mutual TLS on the Orleans transport (Orleans:Tls:* on the silos, AutoGlmClientOptions.Tls on the client): TLS silos
/// form a cluster and serve a client they trust; a client they do not trust (plain TCP, or TLS with a certificate they
/// never saw) reaches nothing, and a client does not talk to silos it does not trust. Redis requires a password.
/// </summary>
public sealed class TransportSecurityTests(TlsClusters tls) : IClassFixture<TlsClusters>
{
    [Fact]
    public async Task SilosSharingASelfSignedCertificateFormAClusterAndServeAClientHoldingIt()
    {
        using var host = await tls.Pinned.StartClientAsync(o => Certificate(o, tls.ClusterCertificate.Path), retry: true, Cancellation);
        await AssertServesATurnOnTwoSilosAsync(host);
    }

    [Fact]
    public async Task SilosWithCertificatesFromOneCaFormAClusterAndServeAClientWithAnotherItIssued()
    {
        using var host = await tls.ByAuthority.StartClientAsync(o =>
        {
            Certificate(o, tls.IssuedClient.Path);
            o.CaCertificatePath = tls.AuthorityPem;
        }, retry: true, Cancellation);
        await AssertServesATurnOnTwoSilosAsync(host);
    }

    public static TheoryData<string, string> Outsiders => new()
    {
        { "pinned", "plain TCP" },
        { "pinned", "untrusted certificate" },
        { "CA", "plain TCP" },
        { "CA", "untrusted certificate" },
    };

    [Theory]
    [MemberData(nameof(Outsiders))]
    public async Task TheGatewayRefusesAClientWithoutACertificateItTrusts(string scheme, string outsider)
    {
        var cluster = scheme == "pinned" ? tls.Pinned : tls.ByAuthority;
        Action<AutoGlmTlsOptions>? options = outsider == "plain TCP" ? null : o =>
        {
            Certificate(o, tls.Stranger.Path);
            // The stranger trusts the silos, so only the gateway's check of the client's certificate can refuse it.
            o.AllowedThumbprints = tls.ClusterCertificate.Thumbprint;
            o.CaCertificatePath = tls.AuthorityPem;
        };

        await AssertRefusedAsync(cluster, options);
    }

    [Fact]
    public async Task AClientRefusesSilosWhoseCertificateItDoesNotTrust()
    {
        // The silos would accept this client (it holds their certificate); the client pins another one.
        await AssertRefusedAsync(tls.Pinned, o =>
        {
            Certificate(o, tls.ClusterCertificate.Path);
            o.AllowedThumbprints = tls.Stranger.Thumbprint;
        });
    }

    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;

    private static void Certificate(AutoGlmTlsOptions options, string path)
    {
        options.CertificatePath = path;
        options.CertificatePassword = TlsClusters.Password;
    }

    private static async Task AssertServesATurnOnTwoSilosAsync(IHost host)
    {
        var conversations = host.Services.GetRequiredService<ConversationClient>();
        // Each silo's batcher answers: both silos joined (joining checks connectivity to every member over silo-to-silo TLS).
        var stats = await conversations.GetClusterStatsAsync();
        Assert.Equal(2, stats.Select(s => s.Silo).Distinct(StringComparer.Ordinal).Count());

        var conversation = "tls-" + Guid.NewGuid().ToString("N");
        var reply = await conversations.SendAsync(conversation, "Hello", new GenerationOptions { MaxNewTokens = 8, Temperature = 0 },
            cancellationToken: Cancellation);
        Assert.True(reply.Usage.CompletionTokens > 0);
        // Stored in the password-protected Redis and read back.
        Assert.Equal(2, (await conversations.GetHistoryAsync(conversation)).Count);
        await host.StopAsync(Cancellation);
    }

    private static async Task AssertRefusedAsync(TlsCluster cluster, Action<AutoGlmTlsOptions>? options)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var host = await cluster.StartClientAsync(options, retry: false, timeout.Token);
            var conversations = host.Services.GetRequiredService<ConversationClient>();
            await conversations.SendAsync("outsider-" + Guid.NewGuid().ToString("N"), "Hello", new GenerationOptions { MaxNewTokens = 4 },
                cancellationToken: timeout.Token);
        });

        // Refused at the connection (the client's own configuration loaded fine), not timed out or cancelled.
        Assert.IsAssignableFrom<OrleansException>(failure);
    }
}
