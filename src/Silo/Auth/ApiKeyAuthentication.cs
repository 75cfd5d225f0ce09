using System.Security.Claims;
using System.Text.Encodings.Web;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Tenancy;
using AutoGlm.Orleans.Silo.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>
/// The "ApiKey" authentication scheme: <c>Authorization: Bearer &lt;key&gt;</c>, the OpenAI SDKs' convention, looked up
/// by its SHA-256 in the <see cref="ApiKeyStore"/>. Without keys configured every request is the default tenant
/// (an admin: the open API of a loopback silo, as before keys existed). Challenges and refusals are OpenAI-shaped:
/// 401 <c>invalid_api_key</c>, 403 <c>insufficient_permissions</c>.
/// </summary>
public sealed class ApiKeyAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    ApiKeyStore keys) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string TenantClaim = "autoglm:tenant";
    public const string AdminRole = "autoglm:admin";

    private static readonly ApiKeyEntry Anonymous = new() { Tenant = ConversationKeys.DefaultTenant, KeySha256 = "", Admin = true };

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!keys.IsEnabled)
        {
            return Task.FromResult(Success(Anonymous, null));
        }

        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("the Authorization header is not a bearer key"));
        }

        var key = header["Bearer ".Length..].Trim();
        return Task.FromResult(keys.TryFind(key, out var entry) ? Success(entry, key) : AuthenticateResult.Fail("unknown API key"));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        var missing = Request.Headers.Authorization.Count == 0;
        return ErrorResponses.WriteAsync(Context, StatusCodes.Status401Unauthorized, "invalid_api_key",
            missing
                ? "You didn't provide an API key: send it as 'Authorization: Bearer <key>'"
                : "Incorrect API key provided");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ErrorResponses.WriteAsync(Context, StatusCodes.Status403Forbidden, "insufficient_permissions",
            "this key may not use this route (it needs an admin key)");

    private AuthenticateResult Success(ApiKeyEntry entry, string? key)
    {
        Context.Features.Set(new ApiKeyFeature(entry, key));
        var claims = new List<Claim> { new(TenantClaim, entry.Tenant) };
        if (entry.Admin)
        {
            claims.Add(new Claim(ClaimTypes.Role, AdminRole));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }
}
