using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Tenancy;

namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>The authenticated tenant of an HTTP request, and what follows from it: its conversations' grain keys, its cache scope.</summary>
public static class HttpTenant
{
    public static ApiKeyEntry Entry(this HttpContext context) =>
        context.Features.Get<ApiKeyFeature>()?.Entry ?? throw new InvalidOperationException("the request was not authenticated");

    /// <summary>The grain key of the caller's conversation <paramref name="conversationId"/>: another tenant's id never reaches it.</summary>
    public static string ConversationKey(this HttpContext context, string conversationId) =>
        ConversationKeys.For(context.Entry().Tenant, conversationId);
}
