using System.Net;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>With Http:ManagementPort the operator routes live on 127.0.0.1 of that port only, open there, gone from the API port.</summary>
public sealed class ManagementPortTests
{
    [Fact]
    public async Task Operator_routes_move_to_the_management_port()
    {
        var folder = Directory.CreateTempSubdirectory("autoglm-mgmt-").FullName;
        var keys = Path.Combine(folder, "keys.json");
        await File.WriteAllTextAsync(keys, """{"keys": [{"tenant": "ops", "key": "admin-key-0123456789", "admin": true}]}""",
            TestContext.Current.CancellationToken);
        var port = SiloServer.FreePort();
        await using var server = new ArgumentsSiloServer(["--api-keys-file", keys, "--Http:ManagementPort", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        try
        {
            await server.InitializeAsync();
            using var admin = new HttpClient { BaseAddress = server.BaseAddress };
            admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "admin-key-0123456789");
            using var management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            foreach (var path in new[] { "/metrics", "/dashboard/", "/dashboard/serving", "/dashboard/serving/data" })
            {
                Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync(path, TestContext.Current.CancellationToken)).StatusCode);
                Assert.Equal(HttpStatusCode.OK, (await management.GetAsync(path, TestContext.Current.CancellationToken)).StatusCode);
            }

            // The API itself is not served on the management port's terms: it still wants a key.
            Assert.Equal(HttpStatusCode.Unauthorized, (await management.GetAsync("/v1/models", TestContext.Current.CancellationToken)).StatusCode);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }


    private sealed class ArgumentsSiloServer(string[] arguments) : SiloServer(arguments);
}
