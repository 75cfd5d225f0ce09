#pragma warning disable OPENAI001 // the Responses client is marked for evaluation in OpenAI 2.15
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Responses;

namespace AutoGlm.Orleans.Benchmarks.Responses;

/// <summary>What one streamed turn measured: TTFT (to the first text delta) and the usage the server reported.</summary>
internal sealed record StreamedTurn(string Id, string Text, double TtftMs, double TotalMs, int InputTokens, int CachedTokens, int OutputTokens);

/// <summary>A refusal, from the HTTP status (before the stream) or from an "error" event (inside it).</summary>
internal sealed class ApiErrorException(int? status, string code, string message) : Exception($"{status} {code}: {message}")
{
    public int? Status { get; } = status;

    public string Code { get; } = code;
}

/// <summary>
/// The OpenAI .NET SDK, unmodified, against the silo: Responses and Chat Completions, always streaming, timed from
/// the call to the first text delta (response.output_text.delta; a chat chunk with content). The clients never
/// retry, so a refusal is seen as it is.
/// </summary>
internal sealed class OpenAiCalls(Uri baseAddress, HttpClient http, string model)
{
    private readonly ResponsesClient _responses = new(new ApiKeyCredential("not-needed"),
        new ResponsesClientOptions { Endpoint = new Uri(baseAddress, "/v1"), RetryPolicy = new ClientRetryPolicy(0) });

    private readonly ChatClient _chat = new(model, new ApiKeyCredential("not-needed"),
        new OpenAIClientOptions { Endpoint = new Uri(baseAddress, "/v1"), RetryPolicy = new ClientRetryPolicy(0) });

    public string Model { get; } = model;

    /// <summary>Replies with an empty text (the model ended at once): their TTFT is the time to the final event.</summary>
    public int EmptyReplies { get; private set; }

    public CreateResponseOptions Options(IEnumerable<ResponseItem> input, string? previous, int maxOutputTokens, bool truncateAuto = false) =>
        new(Model, [.. input])
        {
            PreviousResponseId = previous,
            MaxOutputTokenCount = maxOutputTokens,
            Temperature = 0,
            TruncationMode = truncateAuto ? ResponseTruncationMode.Auto : ResponseTruncationMode.Disabled,
            StreamingEnabled = true,
        };

    /// <summary>One streamed POST /v1/responses.</summary>
    public async Task<StreamedTurn> RespondAsync(CreateResponseOptions options)
    {
        options.StreamingEnabled = true;
        var watch = Stopwatch.StartNew();
        double ttft = -1;
        var text = new StringBuilder();
        try
        {
            await foreach (var update in await _responses.CreateResponseStreamingAsync(options))
            {
                switch (update)
                {
                    case StreamingResponseOutputTextDeltaUpdate delta when !string.IsNullOrEmpty(delta.Delta):
                        ttft = ttft < 0 ? watch.Elapsed.TotalMilliseconds : ttft;
                        text.Append(delta.Delta);
                        break;
                    case StreamingResponseCompletedUpdate completed:
                        return Finish(completed.Response, text, ttft, watch);
                    case StreamingResponseIncompleteUpdate incomplete:
                        return Finish(incomplete.Response, text, ttft, watch);
                    case StreamingResponseErrorUpdate error:
                        throw new ApiErrorException(null, error.Code ?? "error", error.Message ?? "");
                    case StreamingResponseFailedUpdate failed:
                        throw new ApiErrorException(null, failed.Response.Error?.Code.ToString() ?? "failed", failed.Response.Error?.Message ?? "");
                }
            }
        }
        catch (ClientResultException ex)
        {
            throw Refusal(ex);
        }

        throw new InvalidOperationException("the stream ended without a final event");
    }

    /// <summary>One streamed POST /v1/chat/completions with the whole <paramref name="history"/> (the stateless client's way).</summary>
    public async Task<StreamedTurn> ChatAsync(IReadOnlyList<ChatMessage> history, int maxOutputTokens)
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = maxOutputTokens, Temperature = 0 };
        var watch = Stopwatch.StartNew();
        double ttft = -1;
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        string? id = null;
        try
        {
            await foreach (var update in _chat.CompleteChatStreamingAsync(history, options))
            {
                id ??= update.CompletionId;
                foreach (var part in update.ContentUpdate)
                {
                    if (!string.IsNullOrEmpty(part.Text))
                    {
                        ttft = ttft < 0 ? watch.Elapsed.TotalMilliseconds : ttft;
                        text.Append(part.Text);
                    }
                }

                usage = update.Usage ?? usage;
            }
        }
        catch (ClientResultException ex)
        {
            throw Refusal(ex);
        }

        var total = watch.Elapsed.TotalMilliseconds;
        if (usage is null)
        {
            throw new InvalidOperationException("the chat stream carried no usage");
        }

        return new StreamedTurn(id ?? "", text.ToString(), TtftOrTotal(ttft, total), total,
            usage.InputTokenCount, usage.InputTokenDetails?.CachedTokenCount ?? 0, usage.OutputTokenCount);
    }

    /// <summary>Our <c>usage.truncated_tokens</c> (not in the SDK's model), from GET /v1/responses/{id}; untimed.</summary>
    public async Task<int> TruncatedTokensAsync(string responseId)
    {
        using var response = await http.GetAsync($"/v1/responses/{responseId}");
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("usage").GetProperty("truncated_tokens").GetInt32();
    }

    /// <summary>Sums a Prometheus counter of the silo's /metrics (every label set): the server's own count, for cross-checks.</summary>
    public async Task<double> CounterAsync(string name)
    {
        var text = await http.GetStringAsync("/metrics");
        var sum = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is ' ' or '{')
            {
                var value = line[(line.LastIndexOf(' ') + 1)..];
                sum += double.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return sum;
    }

    private StreamedTurn Finish(ResponseResult response, StringBuilder text, double ttft, Stopwatch watch)
    {
        var total = watch.Elapsed.TotalMilliseconds;
        var usage = response.Usage ?? throw new InvalidOperationException("the final event carried no usage");
        return new StreamedTurn(response.Id, text.ToString(), TtftOrTotal(ttft, total), total,
            usage.InputTokenCount, usage.InputTokenDetails?.CachedTokenCount ?? 0, usage.OutputTokenCount);
    }

    private double TtftOrTotal(double ttft, double total)
    {
        if (ttft >= 0)
        {
            return ttft;
        }

        EmptyReplies++;
        return total;
    }

    private static ApiErrorException Refusal(ClientResultException ex)
    {
        var body = ex.GetRawResponse()?.Content?.ToString() ?? "";
        var code = "unknown";
        try
        {
            using var json = JsonDocument.Parse(body);
            code = json.RootElement.GetProperty("error").GetProperty("code").GetString() ?? code;
        }
        catch (JsonException)
        {
        }
        catch (KeyNotFoundException)
        {
        }

        return new ApiErrorException(ex.Status, code, body);
    }
}
