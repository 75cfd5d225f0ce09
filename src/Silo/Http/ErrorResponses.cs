using System.Globalization;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// Every error the HTTP API answers, in OpenAI's shape. Typed conversation errors keep their meaning (400 invalid,
/// 409 busy, 503 overloaded with Retry-After); anything unexpected is a 500 with a generic message, never a stack trace.
/// </summary>
public static class ErrorResponses
{
    public const int RetryAfterSeconds = 1;

    public static Task WriteAsync(HttpContext context, int status, string code, string message, string? param = null, TimeSpan? retryAfter = null)
    {
        var type = status switch
        {
            StatusCodes.Status400BadRequest or StatusCodes.Status404NotFound or StatusCodes.Status413PayloadTooLarge
                or StatusCodes.Status415UnsupportedMediaType or StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden => "invalid_request_error",
            StatusCodes.Status429TooManyRequests => "requests",
            StatusCodes.Status409Conflict or StatusCodes.Status422UnprocessableEntity => "conflict_error",
            StatusCodes.Status503ServiceUnavailable => "overloaded_error",
            _ => "server_error",
        };
        context.Response.StatusCode = status;
        if (status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable)
        {
            var seconds = retryAfter is { } after ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : RetryAfterSeconds;
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        return context.Response.WriteAsJsonAsync(new ErrorBody(new ErrorDetail(message, type, param, code)),
            HttpJsonContext.Default.ErrorBody, contentType: "application/json", cancellationToken: context.RequestAborted);
    }

    /// <summary>The status, code and message for an exception; false when it is not one the API knows (a server fault).</summary>
    public static bool TryClassify(Exception exception, out int status, out string code, out string message, out string? param)
    {
        param = null;
        switch (exception)
        {
            case HttpApiException api:
                (status, code, message, param) = (api.Status, api.Code, api.Message, api.Param);
                return true;
            case BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }:
                (status, code, message) = (StatusCodes.Status413PayloadTooLarge, "request_too_large", "the request body is larger than the server accepts");
                return true;
            case BadHttpRequestException bad:
                (status, code, message) = (StatusCodes.Status400BadRequest, "bad_request", bad.Message);
                return true;
            case System.Text.Json.JsonException json:
                (status, code, message) = (StatusCodes.Status400BadRequest, "invalid_json", JsonMessage(json));
                return true;
            case ContextLengthExceededException exceeded:
                (status, code, message) = (StatusCodes.Status400BadRequest, "context_length_exceeded", exceeded.Message);
                return true;
            case InvalidConversationRequestException invalid:
                (status, code, message) = (StatusCodes.Status400BadRequest, "invalid_request", invalid.Message);
                return true;
            case ConversationBusyException busy:
                (status, code, message) = (StatusCodes.Status409Conflict, "conversation_busy", busy.Message);
                return true;
            case ServerOverloadedException overloaded:
                (status, code, message) = (StatusCodes.Status503ServiceUnavailable, "overloaded", overloaded.Message);
                return true;
            case ConversationNotFoundException notFound:
                (status, code, message) = (StatusCodes.Status404NotFound, "conversation_not_found", notFound.Message);
                return true;
            case ConversationExistsException exists:
                (status, code, message, param) = (StatusCodes.Status409Conflict, "conversation_exists", exists.Message, "id");
                return true;
            case ConversationChangedException changed:
                (status, code, message) = (StatusCodes.Status409Conflict, "conversation_changed", changed.Message);
                return true;
            case IdempotencyKeyReusedException reused:
                (status, code, message, param) = (StatusCodes.Status422UnprocessableEntity, "idempotency_key_reused", reused.Message, "Idempotency-Key");
                return true;
            case StorageUnavailableException storage:
                (status, code, message) = (StatusCodes.Status503ServiceUnavailable, "storage_unavailable", storage.Message);
                return true;
            case AccessDeniedException denied:
                (status, code, message) = (StatusCodes.Status403Forbidden, "insufficient_permissions", denied.Message);
                return true;
            case ConversationMovedException or TurnInterruptedException:
                (status, code, message) = (StatusCodes.Status503ServiceUnavailable, "turn_interrupted", exception.Message);
                return true;
            case Exception when Interruptions.IsInterruption(exception):
                (status, code, message) = (StatusCodes.Status503ServiceUnavailable, "unavailable", "the cluster cannot serve the request now; retry");
                return true;
            default:
                (status, code, message) = (StatusCodes.Status500InternalServerError, "internal_error", "the server failed to process the request");
                return false;
        }
    }

    public static Task WriteAsync(HttpContext context, Exception exception)
    {
        TryClassify(exception, out var status, out var code, out var message, out var param);
        return WriteAsync(context, status, code, message, param, (exception as HttpApiException)?.RetryAfter);
    }

    /// <summary>Terminal middleware piece: unhandled exceptions become a generic 500 (or their typed status), logged, never echoed.</summary>
    public static async Task HandleUnexpectedAsync(HttpContext context, Func<Task> next, ILogger logger)
    {
        try
        {
            await next();
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            if (!TryClassify(ex, out _, out _, out _, out _))
            {
                logger.LogError(ex, "Unhandled error on {Method} {Path}", context.Request.Method, context.Request.Path);
            }

            context.Response.Clear();
            await WriteAsync(context, ex);
        }
    }

    private static string JsonMessage(System.Text.Json.JsonException json) =>
        json.Path is { Length: > 0 } path ? $"the request body is not valid JSON for this API at {path}" : "the request body is not valid JSON";
}
