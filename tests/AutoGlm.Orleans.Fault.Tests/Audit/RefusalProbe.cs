using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Fault.Tests.Load;
using AutoGlm.Orleans.Fault.Tests.Support;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>
/// Refused requests leave nothing behind. With no load running, to every silo: a message to an unknown conversation
/// (404), a prompt far beyond the 2,048-token context window to a fresh conversation through /v1/chat/completions
/// without headers (400), and bad options (temperature 5) on the REST and OpenAI routes of existing conversations
/// (400). Before and after: the keys in Redis (SCAN, DBSIZE: none added, no persistent one gone; a key with a TTL may
/// expire meanwhile), the stored values of the conversations the refusals named, and the KV handles every silo holds
/// (the sum of <c>sequences</c> over <c>/healthz</c>) must not change.
/// </summary>
public sealed class RefusalProbe(ClusterProcesses cluster, HttpClient http, LoadSettings settings)
{
    public const string Statuses = "refused requests get their 4xx";
    public const string NoKeys = "refused requests add no Redis key and change no stored conversation";
    public const string NoHandles = "refused requests leave no KV handle";

    public async Task RunAsync(string restConversation, string sdkConversation, Findings findings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(findings);
        findings.Checked(Statuses, NoKeys, NoHandles);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.ConnectionString);
        var server = redis.GetServer("127.0.0.1", cluster.Redis.Port);
        var database = redis.GetDatabase();
        string[] named = [restConversation, sdkConversation];
        var keysBefore = await RedisKeys.ReadAsync(server, database, named);
        var handlesBefore = await HandlesAsync(cancellationToken);

        var longPrompt = string.Join(' ', Enumerable.Range(0, 20_000).Select(i => "word" + (i % 97).ToString(CultureInfo.InvariantCulture)));
        var wrong = new List<string>();
        var sent = 0;
        foreach (var silo in cluster.Silos)
        {
            var unknown = string.Create(CultureInfo.InvariantCulture, $"{cluster.Run.Tag}-missing-{silo.Index}");
            await ExpectAsync(silo, $"/conversations/{unknown}/messages", new JsonObject { ["content"] = "Hello?" }, unknown, 404);
            await ExpectAsync(silo, "/v1/chat/completions", new JsonObject
            {
                ["model"] = settings.Model,
                ["max_tokens"] = settings.MaxTokens,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = longPrompt }),
            }, null, 400);
            await ExpectAsync(silo, $"/conversations/{restConversation}/messages",
                new JsonObject { ["content"] = "Hot take?", ["temperature"] = 5, ["max_tokens"] = settings.MaxTokens }, restConversation, 400);
            await ExpectAsync(silo, "/v1/chat/completions", new JsonObject
            {
                ["model"] = settings.Model,
                ["temperature"] = 5,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hot take?" }),
            }, sdkConversation, 400);
        }

        // Whatever a refusal might write would be written by now.
        await Task.Delay(TimeSpan.FromSeconds(1.5), cancellationToken);
        var keysAfter = await RedisKeys.ReadAsync(server, database, named);
        var handlesAfter = await HandlesAsync(cancellationToken);

        findings.Figure("refused requests sent", sent);
        findings.Figure("redis keys (DBSIZE) before/after the refusals", $"{keysBefore.DbSize}/{keysAfter.DbSize} ({keysBefore.Volatile.Count} with a TTL before)");
        findings.Figure("redis keys of the conversations the refusals named (values compared)", keysBefore.Watched.Count);
        findings.Figure("KV handles (sum of sequences) before/after the refusals", $"{handlesBefore.Sum}/{handlesAfter.Sum} ({handlesBefore.PerSilo} → {handlesAfter.PerSilo})");
        if (wrong.Count > 0)
        {
            findings.Fail(Statuses, $"{wrong.Count} of {sent}: {string.Join("; ", wrong.Take(6))}");
        }

        var added = keysAfter.All.Except(keysBefore.All).ToList();
        var removed = keysBefore.Persistent.Except(keysAfter.All).ToList();
        var changed = keysBefore.Watched.Where(k => !keysAfter.Watched.TryGetValue(k.Key, out var after) || !after.AsSpan().SequenceEqual(k.Value))
            .Select(k => k.Key).ToList();
        if (added.Count > 0 || removed.Count > 0 || changed.Count > 0)
        {
            var (addedText, removedText, changedText) = (string.Join(", ", added.Take(5)), string.Join(", ", removed.Take(5)), string.Join(", ", changed));
            findings.Fail(NoKeys,
                $"DBSIZE {keysBefore.DbSize} → {keysAfter.DbSize}; added [{addedText}]; persistent keys gone [{removedText}]; values changed [{changedText}]");
        }

        if (handlesAfter.Sum != handlesBefore.Sum)
        {
            findings.Fail(NoHandles, $"sequences {handlesBefore.PerSilo} → {handlesAfter.PerSilo}");
        }

        async Task ExpectAsync(SiloProcess silo, string path, JsonObject body, string? conversation, int expected)
        {
            sent++;
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(silo.HttpBase, path))
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            if (conversation is not null && path.StartsWith("/v1/", StringComparison.Ordinal))
            {
                request.Headers.Add(SdkTransport.ConversationHeader, conversation);
            }

            if (conversation is not null)
            {
                request.Headers.Add(RestTransport.IdempotencyHeader, $"{conversation}-refused-{sent}");
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            try
            {
                using var response = await http.SendAsync(request, timeout.Token);
                var text = await response.Content.ReadAsStringAsync(timeout.Token);
                if ((int)response.StatusCode != expected)
                {
                    wrong.Add($"{silo.Name} POST {Shorten(path)} → {(int)response.StatusCode} {ErrorBodies.Code(text)}, expected {expected}");
                }
            }
            catch (Exception ex) when (Failures.IsTransport(ex) || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                wrong.Add($"{silo.Name} POST {Shorten(path)} → {Failures.Describe(ex)}, expected {expected}");
            }
        }
    }

    private async Task<(long Sum, string PerSilo)> HandlesAsync(CancellationToken cancellationToken)
    {
        var health = await cluster.HealthAsync(cancellationToken);
        var counts = health.OrderBy(h => h.Key).Select(h => (h.Key, Sequences: h.Value.GetProperty("sequences").GetInt64())).ToList();
        return (counts.Sum(c => c.Sequences), string.Join(" ", counts.Select(c => $"silo{c.Key}:{c.Sequences}")));
    }

    private static string Shorten(string path) => path.Length > 60 ? path[..60] + "…" : path;
}
