namespace AutoGlm.Orleans.Abstractions;

/// <summary>
/// How a caller proves its tenant to the grains: the API key it was given travels with each grain call in the
/// Orleans request context; the silos hash it and look the tenant up. The HTTP API sets it from the request's
/// bearer key, the .NET client from its configured key.
/// </summary>
public static class TenantCredentials
{
    /// <summary>The request-context entry that carries the caller's API key.</summary>
    public const string ApiKeyEntry = "autoglm.api-key";

    /// <summary>Attaches <paramref name="apiKey"/> to the grain calls that follow in this async flow (null: none).</summary>
    public static void Attach(string? apiKey)
    {
        if (apiKey is null)
        {
            RequestContext.Remove(ApiKeyEntry);
        }
        else
        {
            RequestContext.Set(ApiKeyEntry, apiKey);
        }
    }

    /// <summary>The API key the current grain call carries, if any.</summary>
    public static string? Current => RequestContext.Get(ApiKeyEntry) as string;
}
