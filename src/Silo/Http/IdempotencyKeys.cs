namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// The idempotency key of a request (IETF httpapi draft, Stripe's convention): the <c>Idempotency-Key</c> header,
/// or the native API's <c>request_id</c> field. A retried request with the same key is applied once.
/// </summary>
public static class IdempotencyKeys
{
    public const string Header = "Idempotency-Key";
    public const int MaxLength = 256;

    /// <summary>The key the client chose (header or <paramref name="bodyKey"/>); null when it chose none.</summary>
    public static string? FromRequest(HttpRequest request, string? bodyKey = null)
    {
        string? header = null;
        if (request.Headers[Header] is { Count: > 0 } values)
        {
            header = values.ToString();
            Validate(header, Header);
        }

        if (bodyKey is not null)
        {
            Validate(bodyKey, "request_id");
        }

        if (header is not null && bodyKey is not null && !string.Equals(header, bodyKey, StringComparison.Ordinal))
        {
            throw HttpApiException.BadRequest($"the {Header} header and 'request_id' name different keys; send one, or the same", Header);
        }

        return header ?? bodyKey;
    }

    /// <summary>A server-chosen key for a request without one: it still serves the server's own retry of the turn.</summary>
    public static string New(string prefix) => prefix + Guid.NewGuid().ToString("N");

    private static void Validate(string key, string param)
    {
        if (key.Length is 0 or > MaxLength || key.Any(c => char.IsControl(c)))
        {
            throw HttpApiException.BadRequest($"{param} must be 1 to {MaxLength} characters without control characters", param);
        }
    }
}
