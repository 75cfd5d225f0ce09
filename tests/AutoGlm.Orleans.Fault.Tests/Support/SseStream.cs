using System.Net.Http.Json;
using System.Text.Json;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// One streaming chat completion read event by event (OpenAI SDKs read the same bytes): how it ends is what a
/// shutdown test looks at — "done" ([DONE]), "error: {code}" (an error event), or "broken" (closed without either).
/// </summary>
public sealed class SseStream : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseStream(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public static async Task<SseStream> StartAsync(HttpClient http, Uri endpoint, string conversationId, string key, int maxTokens,
        CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, "/v1/chat/completions"))
        {
            Content = JsonContent.Create(new
            {
                model = "tiny-chat",
                stream = true,
                max_tokens = maxTokens,
                ignore_eos = true,
                temperature = 0,
                messages = new[] { new { role = "user", content = "Tell me a very long story." } },
            }),
        };
        request.Headers.Add("X-Conversation-Id", conversationId);
        request.Headers.Add("Idempotency-Key", key);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        response.EnsureSuccessStatusCode();
        return new SseStream(response, new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken)));
    }

    /// <summary>Reads until the first event that carries text: the turn is generating.</summary>
    public async Task ReadUntilTextAsync(CancellationToken cancellationToken)
    {
        while (await NextAsync(cancellationToken) is { } data)
        {
            if (data.Contains("\"content\":\"", StringComparison.Ordinal) && !data.Contains("\"content\":\"\"", StringComparison.Ordinal))
            {
                return;
            }
        }

        throw new InvalidOperationException("the stream ended before any text");
    }

    /// <summary>Reads to the end: "done", "error: {code} {message}", or "broken".</summary>
    public async Task<string> ReadToEndAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await NextAsync(cancellationToken) is { } data)
            {
                if (data == "[DONE]")
                {
                    return "done";
                }

                using var json = JsonDocument.Parse(data);
                if (json.RootElement.TryGetProperty("error", out var error))
                {
                    return $"error: {error.GetProperty("code").GetString()} {error.GetProperty("message").GetString()}";
                }
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
        }

        return "broken";
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<string?> NextAsync(CancellationToken cancellationToken)
    {
        while (await _reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                return line["data: ".Length..];
            }
        }

        return null;
    }
}
