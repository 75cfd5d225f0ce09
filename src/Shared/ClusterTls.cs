using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace AutoGlm.Orleans.Security;

/// <summary>
/// Mutual TLS between silos and from clients to gateways: one trust rule, compiled into both the silo and the client
/// (a linked source file, so neither depends on the other). Every connection, in either direction, requires a
/// certificate from the other end, and accepts it only when it is within its validity period and either
/// <list type="bullet">
/// <item>its SHA-256 thumbprint is pinned: the configured thumbprints, or, when neither thumbprints nor a CA are
/// configured, the local certificate's own (the "one cluster certificate" scheme: every silo and client holds the same
/// PFX, self-signed is fine because only that exact certificate is accepted); or</item>
/// <item>a CA certificate is configured and the peer's certificate was issued by it (a private cluster CA: the chain is
/// built against that CA alone, never the machine's trust store, so a certificate from a public CA is refused).</item>
/// </list>
/// Host names are not checked: silos dial each other by IP address, and identity is the pin or the private CA.
/// </summary>
internal static class ClusterTls
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";
    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    /// <summary>The local certificate with its private key, from a PKCS#12 (PFX) file; <paramref name="server"/> also needs server authentication.</summary>
    public static X509Certificate2 LoadCertificate(string path, string? password, bool server)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(path, string.IsNullOrEmpty(password) ? null : password);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"TLS: cannot load the PKCS#12 certificate '{path}' (wrong path or password?): {ex.Message}", ex);
        }

        if (!certificate.HasPrivateKey)
        {
            throw new InvalidOperationException($"TLS: the certificate in '{path}' has no private key");
        }

        // The same certificate answers inbound connections and dials outbound ones, so it needs both usages.
        if (!AllowsUsage(certificate, ClientAuthentication) || (server && !AllowsUsage(certificate, ServerAuthentication)))
        {
            throw new InvalidOperationException(
                $"TLS: the certificate in '{path}' must allow {(server ? "server and client" : "client")} authentication (extended key usage)");
        }

        return certificate;
    }

    /// <summary>A CA certificate (PEM or DER) whose issued certificates are trusted; null when <paramref name="path"/> is empty.</summary>
    public static X509Certificate2? LoadAuthority(string? path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            return null;
        }

        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"TLS: cannot load the CA certificate '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Pinned SHA-256 thumbprints from a comma- or semicolon-separated list (hex, colons and spaces ignored, as
    /// <c>openssl x509 -noout -fingerprint -sha256</c> prints them); the local certificate's own when the list is
    /// empty and no CA is trusted.
    /// </summary>
    public static IReadOnlySet<string> Pins(string? thumbprints, X509Certificate2 local, X509Certificate2? authority)
    {
        var pins = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in (thumbprints ?? string.Empty).Split([',', ';'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var hex = entry.Replace(":", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal).ToUpperInvariant();
            // A SHA-1 thumbprint (40 digits, what Windows shows by default) is refused rather than silently never matching.
            if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
            {
                throw new InvalidOperationException($"TLS: '{entry}' is not a SHA-256 thumbprint (64 hex digits)");
            }

            pins.Add(hex);
        }

        if (pins.Count == 0 && authority is null)
        {
            pins.Add(Thumbprint(local));
        }

        return pins;
    }

    /// <summary>Sets <paramref name="options"/> to present <paramref name="local"/> and to require and check the peer's certificate.</summary>
    public static void Configure(TlsOptions options, X509Certificate2 local, IReadOnlySet<string> pins, X509Certificate2? authority)
    {
        options.LocalCertificate = local;
        // Inbound (silo and gateway listeners): a peer without a certificate is refused.
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        // Outbound (silo to silo, client to gateway): always present ours, so the other end can check it.
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // Replaces the platform's verdict (which would refuse a self-signed certificate and, with no host name, every one).
        options.RemoteCertificateValidation = (certificate, _, _) => IsTrusted(certificate, pins, authority);
    }

    public static string Thumbprint(X509Certificate2 certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256);

    private static bool IsTrusted(X509Certificate2 remote, IReadOnlySet<string> pins, X509Certificate2? authority)
    {
        var now = DateTime.Now;
        if (now < remote.NotBefore || now > remote.NotAfter)
        {
            return false;
        }

        if (pins.Contains(Thumbprint(remote)))
        {
            return true;
        }

        if (authority is null)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        // A private cluster CA rarely publishes revocation lists; rotate by reissuing or by changing the CA.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(remote);
    }

    private static bool AllowsUsage(X509Certificate2 certificate, string oid)
    {
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().ToList();
        // No extended key usage extension: the certificate is good for any purpose.
        return usages.Count == 0 || usages.Any(u => u.EnhancedKeyUsages.Cast<Oid>().Any(o => o.Value == oid));
    }
}
