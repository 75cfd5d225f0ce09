using System.Security.Cryptography.X509Certificates;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>
/// The TLS tests' world: a redis-server that requires a password (so clustering and the conversation store both take it
/// from the connection string), certificates made here in a temporary folder, and two TLS clusters of two silos each,
/// one per trust scheme. Everything is stopped and deleted on dispose.
/// </summary>
public sealed class TlsClusters : IAsyncLifetime
{
    public const string Password = "pfx-secret";

    public RedisServer Redis { get; } = new() { Password = "redis-secret" };

    public string Directory { get; private set; } = string.Empty;

    /// <summary>The one self-signed cluster certificate every silo of <see cref="Pinned"/> and every trusted client holds.</summary>
    public (string Path, string Thumbprint) ClusterCertificate { get; private set; }

    /// <summary>A valid self-signed certificate neither cluster trusts.</summary>
    public (string Path, string Thumbprint) Stranger { get; private set; }

    /// <summary>The CA of <see cref="ByAuthority"/> (PEM) and a client certificate it issued.</summary>
    public string AuthorityPem { get; private set; } = string.Empty;

    public (string Path, string Thumbprint) IssuedClient { get; private set; }

    /// <summary>Silos pinned (by default) to their shared cluster certificate.</summary>
    public TlsCluster Pinned { get; private set; } = null!;

    /// <summary>Silos with a certificate each, issued by one CA, trusting whatever that CA issued.</summary>
    public TlsCluster ByAuthority { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var cancellation = TestContext.Current.CancellationToken;
        await Redis.InitializeAsync();
        Directory = System.IO.Directory.CreateTempSubdirectory("autoglm-tls-").FullName;
        ClusterCertificate = TestCertificates.CreateSelfSigned(Directory, "cluster", Password);
        Stranger = TestCertificates.CreateSelfSigned(Directory, "stranger", Password);
        var (authority, pem) = TestCertificates.CreateAuthority(Directory, "cluster-ca");
        using (authority)
        {
            AuthorityPem = pem;
            IssuedClient = TestCertificates.Issue(authority, Directory, "client", Password);
            var silos = new[] { TestCertificates.Issue(authority, Directory, "silo0", Password), TestCertificates.Issue(authority, Directory, "silo1", Password) };
            Pinned = await TlsCluster.StartAsync("pinned", Redis.ConnectionString, _ =>
                ["--Orleans:Tls:CertificatePath", ClusterCertificate.Path, "--Orleans:Tls:CertificatePassword", Password], cancellation);
            ByAuthority = await TlsCluster.StartAsync("CA", Redis.ConnectionString, i =>
                ["--Orleans:Tls:CertificatePath", silos[i].Path, "--Orleans:Tls:CertificatePassword", Password, "--Orleans:Tls:CaCertificatePath", pem],
                cancellation);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (ByAuthority is not null)
        {
            await ByAuthority.DisposeAsync();
        }

        if (Pinned is not null)
        {
            await Pinned.DisposeAsync();
        }

        await Redis.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
