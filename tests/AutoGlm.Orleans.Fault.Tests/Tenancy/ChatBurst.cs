using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Fault.Tests.Load;

namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>
/// Fresh chat completions fired all at once: one client task per request, spread over a few HttpClients whose handlers
/// allow a connection per request (a pool limit would queue requests in the client and turn the burst into a ramp).
/// Every task is created and parked on one gate first; the gate opens once they all wait, so the requests leave together.
/// </summary>
public sealed class ChatBurst : IDisposable
{
    private const int Clients = 4;

    private readonly HttpClient[] _http;

    public ChatBurst(int requests)
    {
        _http = [.. Enumerable.Range(0, Clients).Select(_ => new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = requests,
            // A burst of SYNs can overflow Kestrel's accept backlog: the kernel retransmits them, which takes seconds.
            ConnectTimeout = TimeSpan.FromSeconds(30),
        })
        {
            Timeout = TimeSpan.FromSeconds(90),
        })];
    }

    /// <summary>Sends every request at once to <paramref name="endpoint"/>; the outcomes in request order, and how long until the last came back.</summary>
    public async Task<(IReadOnlyList<BurstOutcome> Outcomes, TimeSpan Elapsed)> FireAsync(Uri endpoint, IReadOnlyList<(TenantKey Key, string Content)> requests,
        int maxTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Each task runs up to its first await (the closed gate) as it is created: all of them are parked before it opens.
        var tasks = requests.Select((request, i) => SendAfterAsync(gate.Task, _http[i % Clients], endpoint, request, maxTokens, cancellationToken))
            .ToArray();
        var watch = Stopwatch.StartNew();
        gate.SetResult();
        var outcomes = await Task.WhenAll(tasks);
        return (outcomes, watch.Elapsed);
    }

    /// <summary>One fresh turn (no X-Conversation-Id: a new conversation) and what came back.</summary>
    public static async Task<BurstOutcome> SendAsync(HttpClient http, Uri endpoint, TenantKey key, string content, int maxTokens,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(key);
        var body = new JsonObject
        {
            ["model"] = "tiny-chat",
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content }),
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, "/v1/chat/completions"))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key.Key);
        try
        {
            using var response = await http.SendAsync(request, cancellationToken);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var status = (int)response.StatusCode;
            var ok = status == 200;
            return new BurstOutcome(key.Tenant, status,
                Header(response, "Retry-After"), Header(response, "x-ratelimit-limit-requests"), Header(response, "x-ratelimit-remaining-requests"),
                ok ? null : ErrorBodies.Code(text), ok ? null : OpenAiErrorShape.Problem(text),
                Header(response, "X-Conversation-Id"), ok && HasReply(text), Failure: null);
        }
        catch (Exception ex) when (Failures.IsTransport(ex) || (ex is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new BurstOutcome(key.Tenant, 0, null, null, null, null, null, null, HasReply: false, Failures.Describe(ex));
        }
    }

    public void Dispose()
    {
        foreach (var http in _http)
        {
            http.Dispose();
        }
    }

    private static async Task<BurstOutcome> SendAfterAsync(Task gate, HttpClient http, Uri endpoint, (TenantKey Key, string Content) request,
        int maxTokens, CancellationToken cancellationToken)
    {
        await gate;
        return await SendAsync(http, endpoint, request.Key, request.Content, maxTokens, cancellationToken);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values) : null;

    private static bool HasReply(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").ValueKind == JsonValueKind.String;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or IndexOutOfRangeException or InvalidOperationException)
        {
            return false;
        }
    }
}
