using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// autoglm: chat | send | history | status, against a localhost silo or a Redis-clustered cluster.
const string Usage = """
    usage: autoglm <command> [options]
      chat    [--conversation ID]            interactive, streaming; resumes ID when given
      send    --conversation ID MESSAGE...   one turn, streamed to stdout
      history --conversation ID              the stored messages
      status  [--conversation ID]            a conversation's silo and cache, or every silo's batcher
    options: --redis CONN (or env AUTOGLM_REDIS) | --gateway-port N (30000) | --max-tokens N | --temperature T
             --tenant NAME (default) | --api-key KEY (or env AUTOGLM_API_KEY; status of every silo needs an admin key)
    TLS (the silos' Orleans:Tls): --tls-certificate PFX (or env AUTOGLM_TLS_CERTIFICATE; password in env
      AUTOGLM_TLS_PASSWORD) | --tls-ca PEM | --tls-thumbprints SHA256,...
    """;

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 1 : 0;
}

var command = args[0];
var options = new Dictionary<string, string>(StringComparer.Ordinal);
var words = new List<string>();
for (var i = 1; i < args.Length; i++)
{
    if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
    {
        options[args[i][2..]] = args[++i];
    }
    else
    {
        words.Add(args[i]);
    }
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.AddAutoGlmClient(o =>
{
    o.RedisConnectionString = options.GetValueOrDefault("redis") ?? Environment.GetEnvironmentVariable("AUTOGLM_REDIS");
    o.Tenant = options.GetValueOrDefault("tenant") ?? ConversationKeys.DefaultTenant;
    o.ApiKey = options.GetValueOrDefault("api-key") ?? Environment.GetEnvironmentVariable("AUTOGLM_API_KEY");
    if (options.TryGetValue("gateway-port", out var port))
    {
        o.GatewayPort = int.Parse(port, System.Globalization.CultureInfo.InvariantCulture);
    }

    // The password only from the environment: a command line lands in shell history and the process list.
    o.Tls.CertificatePath = options.GetValueOrDefault("tls-certificate") ?? Environment.GetEnvironmentVariable("AUTOGLM_TLS_CERTIFICATE");
    o.Tls.CertificatePassword = Environment.GetEnvironmentVariable("AUTOGLM_TLS_PASSWORD");
    o.Tls.CaCertificatePath = options.GetValueOrDefault("tls-ca");
    o.Tls.AllowedThumbprints = options.GetValueOrDefault("tls-thumbprints");
});
using var host = builder.Build();
await host.StartAsync();
var client = host.Services.GetRequiredService<ConversationClient>();
var generation = new GenerationOptions
{
    MaxNewTokens = options.TryGetValue("max-tokens", out var max) ? int.Parse(max, System.Globalization.CultureInfo.InvariantCulture) : null,
    Temperature = options.TryGetValue("temperature", out var t) ? float.Parse(t, System.Globalization.CultureInfo.InvariantCulture) : null,
};
var conversation = options.GetValueOrDefault("conversation");

try
{
    switch (command)
    {
        case "chat":
            conversation ??= Guid.NewGuid().ToString("N");
            Console.WriteLine($"conversation {conversation} (empty line or Ctrl-D ends)");
            while (Console.ReadLine() is { Length: > 0 } line)
            {
                await StreamAsync(client, conversation, line, generation);
            }

            break;
        case "send" when conversation is not null && words.Count > 0:
            await StreamAsync(client, conversation, string.Join(' ', words), generation);
            break;
        case "history" when conversation is not null:
            foreach (var message in await client.GetHistoryAsync(conversation))
            {
                Console.WriteLine($"[{message.Role.ToString().ToLowerInvariant()}] {message.Content}");
            }

            break;
        case "status" when conversation is not null:
            Console.WriteLine(await client.GetStatusAsync(conversation));
            break;
        case "status":
            foreach (var stats in await client.GetClusterStatsAsync())
            {
                Console.WriteLine(stats);
            }

            break;
        default:
            Console.Error.WriteLine(Usage);
            return 1;
    }
}
catch (ConversationException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 2;
}
finally
{
    await host.StopAsync();
}

return 0;

static async Task StreamAsync(ConversationClient client, string conversation, string message, GenerationOptions options)
{
    await foreach (var chunk in client.SendStreamingAsync(conversation, message, options))
    {
        if (chunk.Restarted)
        {
            Console.WriteLine();
            Console.WriteLine("[the silo died; retrying the turn]");
        }

        Console.Write(chunk.Text);
        if (chunk.IsFinal && chunk.Usage is { } usage)
        {
            Console.WriteLine();
            Console.Error.WriteLine($"[{chunk.FinishReason}; prompt {usage.PromptTokens} = cached {usage.CachedTokens} + computed {usage.ComputedTokens}; completion {usage.CompletionTokens}; {chunk.Silo}]");
        }
    }
}
