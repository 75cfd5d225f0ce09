using System.Text.Json;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>
/// One response as OpenAI's streaming events, each with its sequence_number: created, in_progress,
/// output_item.added, content_part.added, output_text.delta (one per chunk), output_text.done, content_part.done,
/// output_item.done, completed. A stream that cannot finish ends with an "error" event, never silently.
/// </summary>
internal sealed class ResponseStream(HttpResponse http, ResponseView response, ILogger logger)
{
    private int _sequence;

    /// <summary>Streams the turn; returns its final chunk, or null when the stream ended with an error event.</summary>
    public async Task<ReplyChunk?> RunAsync(TurnCall call, CancellationToken ct)
    {
        http.StatusCode = StatusCodes.Status200OK;
        http.ContentType = "text/event-stream; charset=utf-8";
        http.Headers.CacheControl = "no-cache";
        http.Headers["X-Accel-Buffering"] = "no";
        var started = response with { Status = "in_progress" };
        try
        {
            await EventAsync("response.created", j => j.WriteResponseProperty(started), ct);
            await EventAsync("response.in_progress", j => j.WriteResponseProperty(started), ct);
            await EventAsync("response.output_item.added", j =>
            {
                j.WriteNumber("output_index", 0);
                j.WritePropertyName("item");
                ResponseJson.WriteOutputMessage(j, response.MessageId, string.Empty, "in_progress");
            }, ct);
            await EventAsync("response.content_part.added", j =>
            {
                Part(j);
                j.WritePropertyName("part");
                ResponseJson.WriteOutputText(j, string.Empty);
            }, ct);
            var text = new System.Text.StringBuilder();
            do
            {
                var chunk = call.Current;
                if (chunk.Restarted)
                {
                    // Never happens on the server's side of a call (only the client library restarts); refuse rather than mix.
                    throw new TurnInterruptedException("the reply restarted mid-stream");
                }

                if (chunk.Text.Length > 0)
                {
                    text.Append(chunk.Text);
                    await EventAsync("response.output_text.delta", j =>
                    {
                        Part(j);
                        j.WriteString("delta", chunk.Text);
                        j.WriteStartArray("logprobs");
                        j.WriteEndArray();
                    }, ct);
                }

                if (chunk.IsFinal)
                {
                    var whole = text.ToString();
                    var done = response.Finished(whole, chunk.FinishReason, chunk.Usage);
                    await EventAsync("response.output_text.done", j =>
                    {
                        Part(j);
                        j.WriteString("text", whole);
                        j.WriteStartArray("logprobs");
                        j.WriteEndArray();
                    }, ct);
                    await EventAsync("response.content_part.done", j =>
                    {
                        Part(j);
                        j.WritePropertyName("part");
                        ResponseJson.WriteOutputText(j, whole);
                    }, ct);
                    await EventAsync("response.output_item.done", j =>
                    {
                        j.WriteNumber("output_index", 0);
                        j.WritePropertyName("item");
                        ResponseJson.WriteOutputMessage(j, response.MessageId, whole, "completed");
                    }, ct);
                    await EventAsync(done.Status == "incomplete" ? "response.incomplete" : "response.completed", j => j.WriteResponseProperty(done), ct);
                    return chunk;
                }
            }
            while (await call.MoveNextAsync());

            throw new ConversationException("the reply ended without a finish reason");
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            await ErrorAsync(ex);
            return null;
        }
    }

    private void Part(Utf8JsonWriter json)
    {
        json.WriteString("item_id", response.MessageId);
        json.WriteNumber("output_index", 0);
        json.WriteNumber("content_index", 0);
    }

    private Task EventAsync(string type, Action<Utf8JsonWriter> body, CancellationToken ct) =>
        JsonWriting.WriteEventAsync(http, type, j =>
        {
            j.WriteStartObject();
            j.WriteString("type", type);
            j.WriteNumber("sequence_number", _sequence++);
            body(j);
            j.WriteEndObject();
        }, ct);

    private Task ErrorAsync(Exception exception)
    {
        if (!ErrorResponses.TryClassify(exception, out _, out var code, out var message, out var param))
        {
            logger.LogError(exception, "A streamed response failed");
        }

        return EventAsync("error", j =>
        {
            j.WriteString("code", code);
            j.WriteString("message", message);
            if (param is null)
            {
                j.WriteNull("param");
            }
            else
            {
                j.WriteString("param", param);
            }
        }, CancellationToken.None);
    }
}

internal static class ResponseJsonExtensions
{
    public static void WriteResponseProperty(this Utf8JsonWriter json, ResponseView response)
    {
        json.WritePropertyName("response");
        ResponseJson.WriteResponse(json, response);
    }
}
