using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>The serving page and its data are operator routes: 401 without a key, 403 with a tenant's, 200 with an admin's.</summary>
[Collection(KeyedSiloCollection.Name)]
public sealed class ServingPageTenancyTests(KeyedSiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("/dashboard/serving")]
    [InlineData("/dashboard/serving/data")]
    public async Task A_tenant_key_is_refused_and_an_admin_key_served(string path)
    {
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path, Ct)).StatusCode);

        using var tenant = server.As(KeyedSiloServer.Acme);
        using var refused = await tenant.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("insufficient_permissions", (await refused.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error").GetProperty("code").GetString());

        using var admin = server.As(KeyedSiloServer.Admin);
        using var served = await admin.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task An_admin_sees_the_figures_of_turns_a_tenant_ran()
    {
        using var tenant = server.As(KeyedSiloServer.Acme);
        await ServingPageTests.RunTurnsAsync(tenant);
        using var admin = server.As(KeyedSiloServer.Admin);
        var data = await admin.GetFromJsonAsync<JsonElement>("/dashboard/serving/data", Ct);
        var silo = Assert.Single(data.GetProperty("silos").EnumerateArray());
        Assert.False(silo.TryGetProperty("error", out _), silo.ToString());
        var figures = silo.GetProperty("figures");
        Assert.True(figures.GetProperty("turns").GetInt64() >= 2);
        Assert.True(figures.GetProperty("conversations").GetInt32() >= 1);
    }
}
