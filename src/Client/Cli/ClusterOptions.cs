using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;

namespace AutoGlm.Orleans.Cli;

/// <summary>
/// The options every command takes (how to reach the cluster, as whom), declared once on the root and recursive, so
/// they may stand before or after the command name.
/// </summary>
/// <remarks>
/// Environment fallbacks are applied here and not as option defaults: a default is printed by --help, and an API key
/// or a Redis password must not be.
/// </remarks>
internal sealed class ClusterOptions
{
    public const string RedisVariable = "AUTOGLM_REDIS";
    public const string ApiKeyVariable = "AUTOGLM_API_KEY";
    public const string CertificateVariable = "AUTOGLM_TLS_CERTIFICATE";
    public const string CertificatePasswordVariable = "AUTOGLM_TLS_PASSWORD";

    public Option<string?> Redis { get; } = new("--redis")
    {
        Description = $"Redis connection string of the cluster (env {RedisVariable}); unset: one localhost silo",
        HelpName = "CONN",
        Recursive = true,
    };

    public Option<int> GatewayPort { get; } = new("--gateway-port")
    {
        Description = "The localhost silo's gateway port (localhost clustering only)",
        HelpName = "PORT",
        DefaultValueFactory = _ => 30000,
        CustomParser = result => Parse.Int(result, min: 1, max: 65535),
        Recursive = true,
    };

    public Option<string> ClusterId { get; } = new("--cluster-id")
    {
        Description = "The silos' Orleans:ClusterId",
        HelpName = "ID",
        DefaultValueFactory = _ => "autoglm",
        Recursive = true,
    };

    public Option<string> ServiceId { get; } = new("--service-id")
    {
        Description = "The silos' Orleans:ServiceId",
        HelpName = "ID",
        DefaultValueFactory = _ => "autoglm",
        Recursive = true,
    };

    public Option<string> Tenant { get; } = new("--tenant")
    {
        Description = "The tenant to act for (conversation ids are its own)",
        HelpName = "NAME",
        DefaultValueFactory = _ => ConversationKeys.DefaultTenant,
        Recursive = true,
    };

    public Option<string?> ApiKey { get; } = new("--api-key")
    {
        Description = $"The tenant's API key (env {ApiKeyVariable}); status of every silo needs an admin key",
        HelpName = "KEY",
        Recursive = true,
    };

    public Option<string?> TlsCertificate { get; } = new("--tls-certificate")
    {
        Description = $"PFX presented to the gateways, turns TLS on (env {CertificateVariable}; its password only in env {CertificatePasswordVariable})",
        HelpName = "PFX",
        Recursive = true,
    };

    public Option<string?> TlsCa { get; } = new("--tls-ca")
    {
        Description = "PEM of the CA that issued the silos' certificates",
        HelpName = "PEM",
        Recursive = true,
    };

    public Option<string?> TlsThumbprints { get; } = new("--tls-thumbprints")
    {
        Description = "SHA-256 thumbprints of the silo certificates to accept, comma-separated",
        HelpName = "SHA256,...",
        Recursive = true,
    };

    public Option<int> ConnectTimeout { get; } = new("--connect-timeout")
    {
        Description = "Seconds to wait for a gateway before giving up",
        HelpName = "SECONDS",
        DefaultValueFactory = _ => 15,
        CustomParser = result => Parse.Int(result, min: 1, max: 3600),
        Recursive = true,
    };

    public Option<bool> Verbose { get; } = new("--verbose")
    {
        Description = "Log the client's warnings (Orleans, retries) to stderr",
        Recursive = true,
    };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Redis, GatewayPort, ClusterId, ServiceId, Tenant, ApiKey, TlsCertificate, TlsCa, TlsThumbprints, ConnectTimeout, Verbose })
        {
            command.Add(option);
        }
    }

    /// <summary>The client options the command line (and the environment) asks for.</summary>
    public void Apply(ParseResult result, AutoGlmClientOptions options)
    {
        options.RedisConnectionString = result.GetValue(Redis) ?? Environment.GetEnvironmentVariable(RedisVariable);
        options.GatewayPort = result.GetValue(GatewayPort);
        options.ClusterId = result.GetRequiredValue(ClusterId);
        options.ServiceId = result.GetRequiredValue(ServiceId);
        options.Tenant = result.GetRequiredValue(Tenant);
        options.ApiKey = result.GetValue(ApiKey) ?? Environment.GetEnvironmentVariable(ApiKeyVariable);

        // The password only from the environment: a command line lands in shell history and the process list.
        options.Tls.CertificatePath = result.GetValue(TlsCertificate) ?? Environment.GetEnvironmentVariable(CertificateVariable);
        options.Tls.CertificatePassword = Environment.GetEnvironmentVariable(CertificatePasswordVariable);
        options.Tls.CaCertificatePath = result.GetValue(TlsCa);
        options.Tls.AllowedThumbprints = result.GetValue(TlsThumbprints);
    }
}

/// <summary>Number parsers that read the invariant culture (a decimal comma must not change what --temperature means).</summary>
internal static class Parse
{
    public static int Int(ArgumentResult result, int min, int max)
    {
        var token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : string.Empty;
        if (int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        result.AddError($"{Name(result)}: '{token}' is not a whole number from {min} to {max}");
        return default;
    }

    public static float Float(ArgumentResult result, float min, float max)
    {
        var token = result.Tokens.Count > 0 ? result.Tokens[^1].Value : string.Empty;
        if (float.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        result.AddError($"{Name(result)}: '{token}' is not a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");
        return default;
    }

    private static string Name(ArgumentResult result) => result.Parent is OptionResult option ? option.Option.Name : result.Argument.Name;
}
