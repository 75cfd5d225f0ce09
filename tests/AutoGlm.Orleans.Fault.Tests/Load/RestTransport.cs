using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// The native REST API over HttpClient: <c>POST /conversations</c> and <c>POST /conversations/{id}/messages</c>
/// (JSON or SSE) with the turn's <c>Idempotency-Key</c>. Each call is one attempt; it classifies what came back into
/// the attempt record and never throws for a server or transport failure.
/// </summary>
public sealed class RestTransport(HttpClient http, IReadOnlyList<Uri> endpoints, RunClock clock, LoadMonitor monitor, LoadSettings settings)
{
    public const string IdempotencyHeader = "Idempotency-Key";

    public async Task<AttemptResult> CreateAsync(TurnRecord turn, AttemptRecord attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        ArgumentNullException.ThrowIfNull(attempt);
        var body = new JsonObject { ["id"] = turn.ConversationId };
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoints[attempt.Endpoint], "/conversations"))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            Headers(attempt, response);
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            var status = (int)response.StatusCode;
            if (status == 201)
            {
                attempt.Outcome = "201 created";
                return AttemptResult.Acknowledged(string.Empty);
            }

            var code = ErrorBodies.Code(text);
            attempt.Outcome = string.Create(CultureInfo.InvariantCulture, $"{status} {code}");
            // A create retried after a lost answer finds its own conversation: that is "created".
            return status == 409 && code == "conversation_exists" ? AttemptResult.Acknowledged(string.Empty) : AttemptResult.ForStatus(status);
        }
        catch (Exception ex) when (Failures.IsTransport(ex))
        {
            attempt.ConnectionRefused = Failures.IsConnectionRefused(ex);
            attempt.Outcome = Failures.Describe(ex);
            return AttemptResult.Retry;
        }
    }

    public async Task<AttemptResult> SendAsync(TurnRecord turn, AttemptRecord attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        ArgumentNullException.ThrowIfNull(attempt);
        var streaming = turn.Kind == TurnKind.RestStream;
        var body = new JsonObject
        {
            ["content"] = turn.Content,
            ["stream"] = streaming,
            ["max_tokens"] = settings.MaxTokens,
            ["temperature"] = 0,
        };
        var path = "/conversations/" + Uri.EscapeDataString(turn.ConversationId) + "/messages";
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoints[attempt.Endpoint], path))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add(IdempotencyHeader, turn.Key);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            Headers(attempt, response);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var error = await response.Content.ReadAsStringAsync(cancellationToken);
                attempt.Outcome = string.Create(CultureInfo.InvariantCulture, $"{attempt.Status} {ErrorBodies.Code(error)}");
                return AttemptResult.ForStatus(attempt.Status!.Value);
            }

            return streaming
                ? await ReadStreamAsync(response, attempt, cancellationToken)
                : await ReadJsonAsync(response, attempt, cancellationToken);
        }
        catch (Exception ex) when (Failures.IsTransport(ex))
        {
            attempt.ConnectionRefused = Failures.IsConnectionRefused(ex);
            if (attempt.Status == 200)
            {
                attempt.Stream = StreamEnd.Broken; // a 200 whose body (JSON or SSE) broke off
            }

            attempt.Outcome = (attempt.Status == 200 ? "200 then " : string.Empty) + Failures.Describe(ex);
            return AttemptResult.Retry;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            attempt.Outcome = "client could not read the answer: " + Failures.Describe(ex);
            return AttemptResult.Retry;
        }
    }

    private static async Task<AttemptResult> ReadJsonAsync(HttpResponseMessage response, AttemptRecord attempt, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (string.IsNullOrWhiteSpace(text))
        {
            attempt.EmptyBody = true;
            attempt.Outcome = "200 with an empty body";
            return AttemptResult.Retry;
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (!root.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("finish_reason", out var finish) || finish.ValueKind != JsonValueKind.String)
            {
                attempt.EmptyBody = true;
                attempt.Outcome = "200 without content/finish_reason";
                return AttemptResult.Retry;
            }

            attempt.Replayed = root.TryGetProperty("replayed", out var replayed) && replayed.ValueKind == JsonValueKind.True;
            attempt.Silo = root.TryGetProperty("silo", out var silo) && silo.ValueKind == JsonValueKind.String ? silo.GetString() : null;
            attempt.Outcome = "200 ok";
            return AttemptResult.Acknowledged(content.GetString()!);
        }
        catch (JsonException)
        {
            attempt.EmptyBody = true;
            attempt.Outcome = "200 with a body that is not JSON";
            return AttemptResult.Retry;
        }
    }

    private async Task<AttemptResult> ReadStreamAsync(HttpResponseMessage response, AttemptRecord attempt, CancellationToken cancellationToken)
    {
        var transcript = new SseTranscript();
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        try
        {
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (transcript.Feed(line) && attempt.FirstText is null)
                {
                    attempt.FirstText = clock.Now;
                    monitor.StreamText(attempt.Endpoint);
                }

                if (transcript.Done)
                {
                    break;
                }
            }
        }
        finally
        {
            attempt.Silo = transcript.Silo;
            attempt.EmptyBody = transcript.Events == 0;
        }

        attempt.Stream = transcript.End;
        switch (transcript.End)
        {
            case StreamEnd.Done when !transcript.HasError:
                attempt.Outcome = "200 ok";
                return AttemptResult.Acknowledged(transcript.Text);
            case StreamEnd.ErrorEvent:
                attempt.Outcome = "200 then error event " + transcript.ErrorCode;
                return AttemptResult.Retry;
            default:
                attempt.Outcome = transcript.Events == 0 ? "200 with an empty stream" : "200 stream ended without [DONE]";
                return AttemptResult.Retry;
        }
    }

    private void Headers(AttemptRecord attempt, HttpResponseMessage response)
    {
        attempt.Headers = clock.Now;
        attempt.Status = (int)response.StatusCode;
        attempt.RetryAfter = response.Headers.RetryAfter?.Delta;
    }
}
