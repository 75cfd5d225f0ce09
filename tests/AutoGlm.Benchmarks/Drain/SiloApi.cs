using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace AutoGlm.Orleans.Benchmarks.Drain;

/// <summary>A next turn, streamed: time to the first data chunk with text, and what the final event reported.</summary>
internal sealed record TimedTurn(double TtftMs, double TotalMs, int PromptTokens, int CachedTokens, int CompletionTokens, string? Silo);

/// <summary>
/// The silos' native REST API and operator routes, as plain HTTP (loopback silos without keys are open): create a
/// conversation, send a turn (JSON, or SSE timed to the first text), read a conversation's status, drain a silo,
/// read a counter off /metrics. Every turn is greedy (temperature 0) with max_tokens.
/// </summary>
internal sealed class SiloApi : IDisposable
{
    private static readonly TimeSpan MetricsCacheWait = TimeSpan.FromMilliseconds(500);

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10) })
    {
        Timeout = TimeSpan.FromSeconds(180),
    };

    public async Task CreateAsync(Uri silo, string id)
    {
        using var response = await _http.PostAsJsonAsync(new Uri(silo, "/conversations"), new { id });
        await EnsureAsync(response, HttpStatusCode.Created, $"create {id}");
    }

    public async Task DeleteAsync(Uri silo, string id)
    {
        using var response = await _http.DeleteAsync(new Uri(silo, $"/conversations/{id}"));
        await EnsureAsync(response, null, $"delete {id}");
    }

    /// <summary>GET /conversations/{id}: the silo its activation runs on, and its history in tokens.</summary>
    public async Task<(string Silo, int HistoryTokens)> StatusAsync(Uri silo, string id)
    {
        var view = await _http.GetFromJsonAsync<JsonElement>(new Uri(silo, $"/conversations/{id}"));
        return (view.GetProperty("silo").GetString() ?? "", view.GetProperty("history_tokens").GetInt32());
    }

    /// <summary>One JSON (non-streaming) turn: the silo that answered it.</summary>
    public async Task<string?> TurnAsync(Uri silo, string id, string content, int maxTokens)
    {
        using var response = await _http.PostAsJsonAsync(new Uri(silo, $"/conversations/{id}/messages"),
            new { content, max_tokens = maxTokens, temperature = 0 });
        var body = await EnsureAsync(response, HttpStatusCode.OK, $"turn of {id}");
        return JsonDocument.Parse(body).RootElement.GetProperty("silo").GetString();
    }

    /// <summary>
    /// One streamed turn ("stream": true): timed from the request to the first data event that carries text, then
    /// read to the final event (usage, silo) and [DONE].
    /// </summary>
    public async Task<TimedTurn> StreamTurnAsync(Uri silo, string id, string content, int maxTokens)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(silo, $"/conversations/{id}/messages"))
        {
            Content = JsonContent.Create(new { content, max_tokens = maxTokens, temperature = 0, stream = true }),
        };
        var watch = Stopwatch.StartNew();
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
        {
            await EnsureAsync(response, HttpStatusCode.OK, $"streamed turn of {id}");
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double ttft = -1;
        JsonElement? done = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                continue;
            }

            var data = line["data: ".Length..];
            if (data == "[DONE]")
            {
                break;
            }

            var json = JsonDocument.Parse(data).RootElement.Clone();
            if (json.TryGetProperty("error", out var error))
            {
                throw new InvalidOperationException($"streamed turn of {id}: {error}");
            }

            if (ttft < 0 && json.TryGetProperty("text", out var text) && !string.IsNullOrEmpty(text.GetString()))
            {
                ttft = watch.Elapsed.TotalMilliseconds;
            }

            if (json.TryGetProperty("usage", out _))
            {
                done = json;
            }
        }

        var total = watch.Elapsed.TotalMilliseconds;
        var final = done ?? throw new InvalidOperationException($"streamed turn of {id} ended without its final event");
        var usage = final.GetProperty("usage");
        return new TimedTurn(
            // A reply that is empty (the model ended at once) has no text chunk: its TTFT is the time to the final event.
            ttft < 0 ? total : ttft,
            total,
            usage.GetProperty("prompt_tokens").GetInt32(),
            usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(),
            usage.GetProperty("completion_tokens").GetInt32(),
            final.TryGetProperty("silo", out var s) ? s.GetString() : null);
    }

    /// <summary>POST /admin/drain: the wall time of the call and the seconds the silo reported.</summary>
    public async Task<(double WallSeconds, double ReportedSeconds)> DrainAsync(Uri silo)
    {
        var watch = Stopwatch.StartNew();
        using var response = await _http.PostAsync(new Uri(silo, "/admin/drain"), null);
        var body = await EnsureAsync(response, HttpStatusCode.OK, "drain");
        var wall = watch.Elapsed.TotalSeconds;
        return (wall, JsonDocument.Parse(body).RootElement.GetProperty("seconds").GetDouble());
    }

    /// <summary>
    /// The silo's /metrics text (Prometheus), fresh: the exporter answers a scrape from a copy it keeps for 300 ms
    /// (ScrapeResponseCacheDurationMilliseconds' default), so a read waits that long past whatever it should see.
    /// </summary>
    public async Task<string> MetricsAsync(Uri silo)
    {
        await Task.Delay(MetricsCacheWait);
        return await _http.GetStringAsync(new Uri(silo, "/metrics"));
    }

    /// <summary>
    /// A metric summed over its series: every sample line whose name starts with <paramref name="prefix"/> (the
    /// exporter appends unit and _total suffixes; pass "..._sum" or "..._count" for a histogram). 0 when none yet.
    /// </summary>
    public static double Sum(string metrics, string prefix) => metrics.Split('\n')
        .Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
        .Select(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture))
        .Sum();

    public async Task<double> CounterAsync(Uri silo, string prefix) => Sum(await MetricsAsync(silo), prefix);

    public void Dispose() => _http.Dispose();

    private static async Task<string> EnsureAsync(HttpResponseMessage response, HttpStatusCode? expected, string what)
    {
        var body = await response.Content.ReadAsStringAsync();
        var ok = expected is { } status ? response.StatusCode == status : response.IsSuccessStatusCode;
        return ok ? body : throw new InvalidOperationException($"{what}: {(int)response.StatusCode} {body}");
    }
}
