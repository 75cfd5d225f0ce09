using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text;
using OpenAI;
using OpenAI.Chat;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>
/// The OpenAI .NET SDK's <see cref="ChatClient"/> against <c>/v1</c> of one endpoint per attempt: only the new user
/// message, with <c>X-Conversation-Id</c> and <c>Idempotency-Key</c> added by a per-call <see cref="TurnHeadersPolicy"/>,
/// and the SDK's own retries off (<see cref="ClientRetryPolicy"/> with 0 retries) so every retry is the test's.
/// </summary>
public sealed class SdkTransport(HttpClient http, IReadOnlyList<Uri> endpoints, RunClock clock, LoadMonitor monitor, LoadSettings settings)
{
    public const string ConversationHeader = "X-Conversation-Id";

    private readonly HttpClientPipelineTransport _transport = new(http);

    public async Task<AttemptResult> SendAsync(TurnRecord turn, AttemptRecord attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        ArgumentNullException.ThrowIfNull(attempt);
        var streaming = turn.Kind == TurnKind.SdkStream;
        var capture = new ResponseCapture();
        var chat = Client(attempt.Endpoint, turn, capture);
        // A fresh options object per call: the SDK writes into the one it is given.
        var options = new ChatCompletionOptions { MaxOutputTokenCount = settings.MaxTokens, Temperature = 0 };
        ChatMessage[] messages = [new UserChatMessage(turn.Content)];
        try
        {
            return streaming
                ? await StreamAsync(chat, messages, options, attempt, capture, cancellationToken)
                : await CompleteAsync(chat, messages, options, attempt, capture, cancellationToken);
        }
        catch (ClientResultException ex) when (ex.Status != 0)
        {
            attempt.Status = ex.Status;
            attempt.Headers ??= capture.Headers;
            if (ex.GetRawResponse()?.Headers.TryGetValue("Retry-After", out var retryAfter) == true
                && int.TryParse(retryAfter, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds))
            {
                attempt.RetryAfter = TimeSpan.FromSeconds(seconds);
            }

            var body = ex.GetRawResponse()?.Content?.ToString() ?? capture.Body;
            attempt.Outcome = string.Create(CultureInfo.InvariantCulture, $"{ex.Status} {ErrorBodies.Code(body)}");
            return AttemptResult.ForStatus(ex.Status);
        }
        catch (Exception ex) when (Failures.IsTransport(ex))
        {
            attempt.ConnectionRefused = Failures.IsConnectionRefused(ex);
            attempt.Status ??= capture.Status;
            attempt.Headers ??= capture.Headers;
            if (attempt.Status == 200)
            {
                attempt.Stream = StreamEnd.Broken;
                attempt.EmptyBody = SseTranscript.Of(capture.Body).Events == 0;
            }

            attempt.Outcome = (attempt.Status == 200 ? "200 then " : string.Empty) + Failures.Describe(ex);
            return AttemptResult.Retry;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The SDK could not make sense of what came back (an error event it cannot parse, say): the raw body decides.
            attempt.Status ??= capture.Status;
            attempt.Headers ??= capture.Headers;
            var transcript = SseTranscript.Of(capture.Body);
            if (attempt.Status == 200)
            {
                attempt.Stream = streaming ? transcript.End : StreamEnd.None;
                attempt.EmptyBody = string.IsNullOrWhiteSpace(capture.Body);
            }

            attempt.Outcome = (transcript.HasError ? "200 then error event " + transcript.ErrorCode + ", " : string.Empty)
                + "SDK threw " + Failures.Describe(ex);
            return AttemptResult.Retry;
        }
    }

    private static async Task<AttemptResult> CompleteAsync(ChatClient chat, ChatMessage[] messages, ChatCompletionOptions options,
        AttemptRecord attempt, ResponseCapture capture, CancellationToken cancellationToken)
    {
        ClientResult<ChatCompletion> result = await chat.CompleteChatAsync(messages, options, cancellationToken);
        attempt.Status = result.GetRawResponse().Status;
        attempt.Headers = capture.Headers;
        var completion = result.Value;
        if (string.IsNullOrWhiteSpace(capture.Body))
        {
            attempt.EmptyBody = true;
            attempt.Outcome = "200 with an empty body";
            return AttemptResult.Retry;
        }

        attempt.Outcome = "200 ok, finish " + completion.FinishReason;
        return AttemptResult.Acknowledged(string.Concat(completion.Content.Select(p => p.Text)));
    }

    private async Task<AttemptResult> StreamAsync(ChatClient chat, ChatMessage[] messages, ChatCompletionOptions options,
        AttemptRecord attempt, ResponseCapture capture, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options, cancellationToken))
        {
            attempt.Status ??= capture.Status;
            attempt.Headers ??= capture.Headers;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
                if (part.Text.Length > 0 && attempt.FirstText is null)
                {
                    attempt.FirstText = clock.Now;
                    monitor.StreamText(attempt.Endpoint);
                }
            }

            finish ??= update.FinishReason;
        }

        attempt.Status ??= capture.Status;
        attempt.Headers ??= capture.Headers;
        var transcript = SseTranscript.Of(capture.Body);
        attempt.Stream = transcript.End;
        attempt.EmptyBody = transcript.Events == 0;
        if (transcript.HasError)
        {
            attempt.Outcome = "200 then error event " + transcript.ErrorCode;
            return AttemptResult.Retry;
        }

        if (finish is null)
        {
            attempt.Outcome = transcript.Events == 0 ? "200 with an empty stream" : "200 stream without a finish reason";
            return AttemptResult.Retry;
        }

        attempt.Outcome = "200 ok, finish " + finish;
        return AttemptResult.Acknowledged(text.ToString());
    }

    private ChatClient Client(int endpoint, TurnRecord turn, ResponseCapture capture)
    {
        var options = new OpenAIClientOptions
        {
            Endpoint = new Uri(endpoints[endpoint], "/v1"),
            RetryPolicy = new ClientRetryPolicy(0),
            Transport = _transport,
            NetworkTimeout = settings.AttemptTimeout + TimeSpan.FromSeconds(5),
        };
        options.AddPolicy(new TurnHeadersPolicy(
            [new(ConversationHeader, turn.ConversationId), new(RestTransport.IdempotencyHeader, turn.Key)], capture, clock),
            PipelinePosition.PerCall);
        return new ChatClient(settings.Model, new ApiKeyCredential("fault-test"), options);
    }
}
