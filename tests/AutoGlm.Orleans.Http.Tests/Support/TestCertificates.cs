using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>Certificates made by the test, written as an operator deploys them: password-protected PFX files, a CA as PEM.</summary>
public static class TestCertificates
{
    private static readonly DateTimeOffset NotBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
    private static readonly DateTimeOffset NotAfter = DateTimeOffset.UtcNow.AddDays(1);

    /// <summary>A self-signed certificate good for server and client authentication; returns its PFX path and SHA-256 thumbprint.</summary>
    public static (string Path, string Thumbprint) CreateSelfSigned(string directory, string name, string password)
    {
        // P-256: key generation in microseconds, where RSA would take a noticeable share of the test.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = LeafRequest(name, key);
        using var certificate = request.CreateSelfSigned(NotBefore, NotAfter);
        return Write(directory, name, password, certificate);
    }

    /// <summary>A CA (with its private key, to issue) whose certificate is written to <c>name.pem</c>.</summary>
    public static (X509Certificate2 Authority, string PemPath) CreateAuthority(string directory, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var authority = request.CreateSelfSigned(NotBefore, NotAfter.AddDays(1));
        var path = Path.Combine(directory, name + ".pem");
        File.WriteAllText(path, authority.ExportCertificatePem());
        return (authority, path);
    }

    /// <summary>A certificate issued by <paramref name="authority"/> (server and client authentication), as a PFX.</summary>
    public static (string Path, string Thumbprint) Issue(X509Certificate2 authority, string directory, string name, string password)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = LeafRequest(name, key);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        using var issued = request.Create(authority, NotBefore, NotAfter, RandomNumberGenerator.GetBytes(8));
        using var certificate = issued.CopyWithPrivateKey(key);
        return Write(directory, name, password, certificate);
    }

    private static CertificateRequest LeafRequest(string name, ECDsa key)
    {
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        return request;
    }

    private static (string Path, string Thumbprint) Write(string directory, string name, string password, X509Certificate2 certificate)
    {
        var path = Path.Combine(directory, name + ".pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pfx, password));
        return (path, certificate.GetCertHashString(HashAlgorithmName.SHA256));
    }
}
