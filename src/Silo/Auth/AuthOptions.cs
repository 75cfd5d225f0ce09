namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>Configuration section "Auth": who may use the HTTP API.</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>
    /// The keys file (<c>--api-keys-file</c>), re-read when it changes. Unset: the API is open, everything runs as
    /// the default tenant; allowed on a loopback address only, unless <see cref="AllowAnonymous"/>.
    /// </summary>
    public string? KeysFile { get; set; }

    /// <summary>Serve an open API on a non-loopback address anyway (a trusted network, a proxy that authenticates).</summary>
    public bool AllowAnonymous { get; set; }
}
