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
    public static async IAsyncEnumerable<JsonElement> PostAsync(HttpClient http, string path, JsonObject body,
        Action<HttpResponseHeaders>? onHeaders, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
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
