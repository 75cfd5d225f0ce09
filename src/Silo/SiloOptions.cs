using AutoGlm.Orleans.Inference.Runtime;

namespace AutoGlm.Orleans.Silo;

/// <summary>
/// Configuration of a silo process. Keys (appsettings, environment with "__" for ":", or the command line):
/// <list type="bullet">
/// <item><c>Redis:ConnectionString</c> (env <c>AUTOGLM_REDIS</c>, switch <c>--redis</c>): Redis clustering and grain storage; unset = one localhost silo with in-memory storage.</item>
/// <item><c>Orleans:SiloPort</c> (<c>--silo-port</c>, 11111), <c>Orleans:GatewayPort</c> (<c>--gateway-port</c>, 30000), <c>Orleans:ClusterId</c>, <c>Orleans:ServiceId</c>, <c>Orleans:AdvertisedIP</c>.</item>
/// <item><c>Http:Port</c> (<c>--http-port</c>): the HTTP port (ASP.NET Core's default when unset); <c>Http:Host</c> (<c>--http-host</c>, localhost); <c>Http:MaxRequestBodyBytes</c> (1 MiB).</item>
/// <item><c>Model:Path</c> (<c>--model</c>): the model folder; the default model beside the silo when unset.</item>
/// <item><c>Engine:*</c>: <see cref="EngineSection"/>.</item>
/// <item><c>Conversations:*</c>: <see cref="Grains.ConversationOptions"/> (IdleTtl, MaxRequestIds, TurnLease, ShutdownDeadline, KeyPrefix).</item>
/// <item><c>Http:TurnTimeout</c>, <c>Http:FailoverWait</c>: <see cref="Http.HttpTurnOptions"/>; <c>Http:MaxConcurrentConnections</c> (10,000);
/// <c>Http:ManagementPort</c>: serve /metrics and /dashboard only there, on 127.0.0.1.</item>
/// <item><c>Auth:KeysFile</c> (<c>--api-keys-file</c>), <c>Auth:AllowAnonymous</c>: <see cref="Auth.AuthOptions"/>.</item>
/// <item><c>Orleans:Membership:*</c>: failure detection (<see cref="MembershipDefaults"/>).</item>
/// <item><c>Orleans:Tls:*</c>: mutual TLS on Orleans connections (<see cref="TransportSecurity"/>).</item>
/// </list>
/// </summary>
public static class SiloConfiguration
{
    public const string RedisKey = "Redis:ConnectionString";
    public const string RedisEnvironmentVariable = "AUTOGLM_REDIS";
    public const long DefaultMaxRequestBodyBytes = 1024 * 1024;
    public const long DefaultMaxConcurrentConnections = 10_000;

    public static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.Ordinal)
    {
        ["--redis"] = RedisKey,
        ["--silo-port"] = "Orleans:SiloPort",
        ["--gateway-port"] = "Orleans:GatewayPort",
        ["--cluster-id"] = "Orleans:ClusterId",
        ["--http-port"] = "Http:Port",
        ["--http-host"] = "Http:Host",
        ["--service-id"] = "Orleans:ServiceId",
        ["--model"] = "Model:Path",
        ["--api-keys-file"] = "Auth:KeysFile",
    };

    public static string? RedisConnectionString(IConfiguration configuration)
    {
        var value = configuration[RedisKey];
        if (string.IsNullOrWhiteSpace(value))
        {
            value = Environment.GetEnvironmentVariable(RedisEnvironmentVariable);
        }

        return string.IsNullOrWhiteSpace(value) ? null : value;
    }
}

/// <summary>Configuration section "Engine": the silo's inference engine.</summary>
public sealed class EngineSection
{
    public const string Section = "Engine";

    public ExecutionDevice Device { get; set; } = ExecutionDevice.Cpu;

    public int IntraOpThreads { get; set; }

    public int MaxBatchSize { get; set; } = 32;

    public int MaxTokensPerStep { get; set; } = 256;

    public int MaxQueueLength { get; set; } = 256;

    /// <summary>
    /// How long a turn may wait in the engine's queue before it fails as overloaded (503 with Retry-After) instead of
    /// hanging: <c>--Engine:MaxQueueWait 00:00:30</c>; <c>00:00:00</c> waits without limit.
    /// </summary>
    public TimeSpan MaxQueueWait { get; set; } = TimeSpan.FromSeconds(30);

    public long KvBudgetBytes { get; set; }

    public double KvBudgetFraction { get; set; } = 0.25;

    /// <summary>
    /// Another graph in the model's folder, a key of model.json "variants": e.g. "optimum" (the Concat KV layout of the
    /// same weights) or "int8" / "int4" (weight-quantized copies).
    /// </summary>
    public string? ModelVariant { get; set; }

    /// <summary>Where evicted KV spills: auto (host memory with a GPU, disk otherwise), host, disk or off.</summary>
    public AutoGlm.Orleans.Inference.Engine.RestoreTierKind RestoreTierKind { get; set; } = AutoGlm.Orleans.Inference.Engine.RestoreTierKind.Auto;

    /// <summary>The restore tier's bound in bytes (0: off); null keeps the engine's default.</summary>
    public long? RestoreTierBytes { get; set; }

    /// <summary>The disk tier's folder (default: the temp folder).</summary>
    public string? RestoreTierPath { get; set; }
}
