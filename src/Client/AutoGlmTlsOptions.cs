namespace AutoGlm.Orleans.Client;

/// <summary>
/// Mutual TLS to the silos' gateways, the same scheme as the silos' <c>Orleans:Tls</c> keys: on when
/// <see cref="CertificatePath"/> is set. The gateways refuse a client without a certificate they trust.
/// </summary>
public sealed class AutoGlmTlsOptions
{
    /// <summary>A PKCS#12 (PFX) file with the client's certificate and private key (client authentication usage).</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PFX password, if any.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// SHA-256 thumbprints (comma-separated) of the silo certificates to accept; when empty and no
    /// <see cref="CaCertificatePath"/>, only this client's own certificate (the one shared cluster certificate).
    /// </summary>
    public string? AllowedThumbprints { get; set; }

    /// <summary>A CA certificate (PEM or DER): silo certificates it issued are accepted too; nothing else is trusted.</summary>
    public string? CaCertificatePath { get; set; }
}
