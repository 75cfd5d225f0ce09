using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>One request of the HTTP API as a given caller: with its bearer key, or none.</summary>
public static class ApiCalls
{
    public static async Task<ApiAnswer> SendAsync(HttpClient http, HttpMethod method, Uri uri, TenantKey? caller, JsonNode? body,
        string? conversationId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var request = new HttpRequestMessage(method, uri);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        }

        if (caller is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", caller.Key);
        }

        if (conversationId is not null)
        {
            request.Headers.Add("X-Conversation-Id", conversationId);
        }

        using var response = await http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return new ApiAnswer((int)response.StatusCode, text,
            response.Headers.TryGetValues("X-Conversation-Id", out var ids) ? string.Join(",", ids) : null,
            response.Headers.WwwAuthenticate.Count > 0 ? response.Headers.WwwAuthenticate.ToString() : null);
    }
}
