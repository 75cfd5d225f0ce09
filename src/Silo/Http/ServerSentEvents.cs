using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>Writes server-sent events ("data: json\n\n"), flushing each so tokens reach the client as generated.</summary>
public sealed class ServerSentEvents(HttpResponse response)
{
    private static readonly byte[] Data = "data: "u8.ToArray();
    private static readonly byte[] End = "\n\n"u8.ToArray();
    private static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

    public void Start()
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
    }

    public async Task WriteAsync<T>(T value, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync(Data, cancellationToken);
        await response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(value, type), cancellationToken);
        await response.Body.WriteAsync(End, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    /// <summary>
    /// Ends a stream that cannot finish with an error event, as OpenAI does: the status was sent already, so the
    /// error travels in the stream (its code tells the client whether a retry with the same key is safe).
    /// </summary>
    public Task WriteErrorAsync(Exception exception, ILogger logger)
    {
        if (ErrorResponses.TryClassify(exception, out var status, out var code, out var message, out var param))
        {
            logger.LogInformation("A streamed reply ended with {Code}: {Reason}", code, exception.GetType().Name);
        }
        else
        {
            logger.LogError(exception, "A streamed reply failed");
        }

        var type = status >= 500 ? "server_error" : "invalid_request_error";
        return WriteAsync(new ErrorBody(new ErrorDetail(message, type, param, code)), HttpJsonContext.Default.ErrorBody, CancellationToken.None);
    }

    public async Task WriteDoneAsync(CancellationToken cancellationToken)
    {
        await response.Body.WriteAsync(Done, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}
