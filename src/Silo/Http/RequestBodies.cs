using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AutoGlm.Orleans.Silo.Http;

internal static class RequestBodies
{
    /// <summary>Reads a JSON body; malformed, mistyped or oversized bodies throw what <see cref="ErrorResponses"/> maps to 400.</summary>
    public static async Task<T> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, bool allowEmpty = false)
        where T : class, new()
    {
        if (request.ContentLength == 0 && allowEmpty)
        {
            return new T();
        }

        if (request.HasJsonContentType() is false && request.ContentType is not null)
        {
            throw new HttpApiException(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "the request body must be application/json");
        }

        var value = await JsonSerializer.DeserializeAsync(request.Body, type, request.HttpContext.RequestAborted);
        return value ?? throw HttpApiException.BadRequest("the request body must be a JSON object", code: "invalid_json");
    }
}
