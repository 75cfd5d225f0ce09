namespace AutoGlm.Orleans.Silo.Http;

/// <summary>A client's mistake found by the HTTP layer, answered with OpenAI's error shape and this status.</summary>
public sealed class HttpApiException(int status, string code, string message, string? param = null, TimeSpan? retryAfter = null)
    : Exception(message)
{
    /// <summary>When a 429 or 503 may be retried (Retry-After); the API's default when null.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    public int Status { get; } = status;

    public string Code { get; } = code;

    public string? Param { get; } = param;

    public static HttpApiException BadRequest(string message, string? param = null, string code = "invalid_value") =>
        new(StatusCodes.Status400BadRequest, code, message, param);
}
