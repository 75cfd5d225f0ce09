using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// The HTTP side every HTTP system shares: one POST of a JSON body whose reply is server-sent events, read one
/// event at a time as it arrives. Both our silo and llama-server write each event as one <c>data: {json}</c> line and
/// a blank line, and report a failure mid-stream as <c>data: {"error": ...}</c>; OpenAI's routes end with
/// <c>data: [DONE]</c>, llama.cpp's native one by closing the stream.
/// </summary>
public static class HttpSse
{
    /// <summary>
    /// An HTTP client for one system: one connection per concurrent client (the default handler's limit is
    /// unbounded), no overall timeout (a reply streams for as long as it takes; cancellation ends it).
    /// </summary>
    public static HttpClient CreateClient(Uri baseAddress) => new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        // Under llama-server's keep-alive timeout (cpp-httplib: 5 s), so a pooled connection is never one it closed.
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(2),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    })
    {
        BaseAddress = baseAddress,
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>
    /// POSTs <paramref name="body"/> to <paramref name="path"/> and yields each event's JSON; <paramref name="onHeaders"/>
    /// sees the response headers before the first event. A non-2xx status or an error event throws.
    /// </summary>
    /// <summary>
    /// Sends the POST, retrying twice a request that failed before any response came (a connection the server had
    /// closed, say), as the OpenAI SDKs do: nothing was answered, so nothing is counted twice.
    /// </summary>
    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string path, JsonObject body, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path)
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            try
            {
                return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (ex.StatusCode is null && attempt < 2 && !cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _retries);
            }
        }
    }

    private static int _retries;

    /// <summary>Requests sent again after a connection failure, over the whole benchmark run.</summary>
    public static int Retries => Volatile.Read(ref _retries);

    public static async IAsyncEnumerable<JsonElement> PostAsync(HttpClient http, string path, JsonObject body,
        Action<HttpResponseHeaders>? onHeaders, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(body);
        using var response = await SendAsync(http, path, body, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new HttpRequestException($"POST {path}: {(int)response.StatusCode} {Clip(text)}", null, response.StatusCode);
        }

        onHeaders?.Invoke(response.Headers);
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
            {
                // Blank lines end events; ":" lines are comments (llama-server's keep-alive pings); no other field is used.
                if (!line.StartsWith("data:", StringComparison.Ordinal))
                {
                    continue;
                }

                var data = line[5..].Trim();
                if (data == "[DONE]")
                {
                    yield break;
                }

                using var document = JsonDocument.Parse(data);
                if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error))
                {
                    throw new HttpRequestException($"POST {path}: error event {Clip(error.GetRawText())}");
                }

                yield return document.RootElement.Clone();
            }
        }
    }

    private static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "...";
}
