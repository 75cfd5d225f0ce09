using AutoGlm.Orleans.Security;

namespace AutoGlm.Orleans.Silo;

/// <summary>
/// Mutual TLS on the silo's Orleans connections (silo to silo, and the gateway's clients), on only when a certificate
/// is configured. Keys (section <c>Orleans:Tls</c>):
/// <list type="bullet">
/// <item><c>CertificatePath</c>: a PKCS#12 (PFX) file with this silo's certificate and private key, allowed for server
/// and client authentication; setting it turns TLS on.</item>
/// <item><c>CertificatePassword</c>: the PFX password, if any (prefer the environment, <c>Orleans__Tls__CertificatePassword</c>,
/// to the command line).</item>
/// <item><c>AllowedThumbprints</c>: SHA-256 thumbprints (comma-separated) of the certificates peers may present;
/// default: this silo's own, so silos and clients sharing one (even self-signed) cluster certificate trust each other
/// and nothing else. List old and new during a rotation.</item>
/// <item><c>CaCertificatePath</c>: a CA certificate (PEM or DER); certificates it issued are trusted too (one certificate
/// per node). Only this CA is trusted, never the machine's store.</item>
/// </list>
/// The rule itself is <see cref="ClusterTls"/>, shared with the .NET client. The HTTP API is not covered.
/// </summary>
public static class TransportSecurity
{
    public const string Section = "Orleans:Tls";

    public static void Apply(ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        var tls = configuration.GetSection(Section);
        var path = tls["CertificatePath"];
        if (string.IsNullOrWhiteSpace(path))
        {
            return;
        }

        // Loaded here, not on the first connection: a wrong path or password stops the silo at start, not later.
        var certificate = ClusterTls.LoadCertificate(path, tls["CertificatePassword"], server: true);
        var authority = ClusterTls.LoadAuthority(tls["CaCertificatePath"]);
        var pins = ClusterTls.Pins(tls["AllowedThumbprints"], certificate, authority);
        silo.UseTls(options => ClusterTls.Configure(options, certificate, pins, authority));
    }
}
