using System.Net;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Tenancy;
using Microsoft.AspNetCore.Authentication;

namespace AutoGlm.Orleans.Silo.Auth;

/// <summary>
/// Who may use the HTTP API, on ASP.NET Core's authentication, authorization and rate limiting: the "ApiKey" scheme,
/// the <see cref="Policies"/>, per-tenant limits. Without a keys file the API stays open on a loopback address (with a
/// warning) and refuses to start on any other unless <c>Auth:AllowAnonymous</c> is true.
/// </summary>
public static class ApiAccess
{
    public static void AddApiAccess(this IServiceCollection services)
    {
        services.AddAuthentication(ApiKeyAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Tenant, p => p.RequireAuthenticatedUser())
            .AddPolicy(Policies.Admin, p => p.RequireAuthenticatedUser().RequireRole(ApiKeyAuthentication.AdminRole));
        services.AddTenantRateLimits();
    }

    /// <summary>Loads the keys (or checks that an open API is allowed here), then adds the middleware. Before the app runs.</summary>
    /// <exception cref="InvalidOperationException">No keys on a non-loopback address without Auth:AllowAnonymous, or a bad keys file.</exception>
    public static void UseApiAccess(this WebApplication app, string httpHost)
    {
        var options = app.Configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("AutoGlm.Orleans.Silo.Auth");
        if (!string.IsNullOrWhiteSpace(options.KeysFile))
        {
            ApiKeysFileWatcher watcher;
            try
            {
                watcher = ApiKeysFileWatcher.Start(options.KeysFile, app.Services.GetRequiredService<ApiKeyStore>(), logger);
            }
            catch (Exception ex) when (ex is InvalidDataException or IOException)
            {
                throw new InvalidOperationException($"the API keys file '{options.KeysFile}' cannot be used: {ex.Message}", ex);
            }

            app.Lifetime.ApplicationStopped.Register(watcher.Dispose);
        }
        else if (!IsLoopback(httpHost) && !options.AllowAnonymous)
        {
            throw new InvalidOperationException(
                $"the HTTP API is bound to '{httpHost}' (not loopback) with no API keys: give --api-keys-file FILE, or --Auth:AllowAnonymous true to serve it open");
        }
        else
        {
            logger.LogWarning("No API keys (Auth:KeysFile): the HTTP API on {Host} is open to every caller, as tenant '{Tenant}'", httpHost,
                ConversationKeys.DefaultTenant);
        }

        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        // The grains check the caller again: its key travels with every grain call this request makes.
        app.Use((context, next) =>
        {
            TenantCredentials.Attach(context.Features.Get<ApiKeyFeature>()?.Key);
            return next(context);
        });
    }

    public static bool IsLoopback(string host) =>
        host is "localhost" || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
