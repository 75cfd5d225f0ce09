using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Http.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// What a gateway client (the Orleans .NET client) can reach on a silo with keys: its own tenant's conversations
/// with its key, nothing of another tenant's, and the operator's grains only with an admin key.
/// </summary>
[Collection(KeyedSiloCollection.Name)]
public sealed class GatewayClientTests(KeyedSiloServer server) : IAsyncLifetime
{
    private IHost? _client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IGrainFactory Grains => _client!.Services.GetRequiredService<IGrainFactory>();

    public async ValueTask InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        SiloLogs.Configure(builder.Logging, "gateway client");
        builder.UseOrleansClient(c => c.UseLocalhostClustering(server.GatewayPort, server.ClusterId, server.ClusterId));
        _client = builder.Build();
        await _client.StartAsync(Ct);
    }

    [Fact]
    public async Task A_client_reaches_its_own_tenants_conversations_and_no_other()
    {
        var acme = new ConversationClient(Grains, "acme", KeyedSiloServer.Acme);
        var id = "gateway-" + Guid.NewGuid().ToString("N");
        var reply = await acme.SendAsync(id, "Hello from the gateway.", new GenerationOptions { MaxNewTokens = 4, Temperature = 0 }, cancellationToken: Ct);
        Assert.NotEmpty(reply.Text);
        Assert.Equal(2, (await acme.GetHistoryAsync(id)).Count);

        // Another tenant naming acme's grain key, or no key at all: the conversation does not exist for it.
        foreach (var key in new[] { KeyedSiloServer.Globex, null })
        {
            TenantCredentials.Attach(key);
            var grain = Grains.GetGrain<IConversationGrain>(ConversationKeys.For("acme", id));
            await Assert.ThrowsAsync<ConversationNotFoundException>(() => grain.GetHistory());
            await Assert.ThrowsAsync<ConversationNotFoundException>(() => grain.Send(new TurnRequest("steal", "Mine."), Ct));
            await Assert.ThrowsAsync<ConversationNotFoundException>(() => grain.Delete("steal"));
        }

        // A client given globex's tenant with acme's key reaches nothing either.
        var mismatched = new ConversationClient(Grains, "globex", KeyedSiloServer.Acme);
        await Assert.ThrowsAsync<ConversationNotFoundException>(() => mismatched.GetHistoryAsync(id));
        Assert.Equal(2, (await acme.GetHistoryAsync(id)).Count);
    }

    [Fact]
    public async Task The_operators_grains_answer_an_admin_key_only_and_an_engine_grain_never_takes_a_clients_kv()
    {
        var management = Grains.GetGrain<IManagementGrain>(0);
        TenantCredentials.Attach(KeyedSiloServer.Acme);
        await Assert.ThrowsAsync<AccessDeniedException>(() => management.GetHosts(true, Ct));
        TenantCredentials.Attach(KeyedSiloServer.Admin);
        var hosts = await management.GetHosts(true, Ct);
        var engine = SiloEngineGrainKeys.ForSilo(Grains, hosts.Keys.Single());
        Assert.NotNull(await engine.GetStats());
        Assert.Equal("tiny-chat", (await engine.GetServingStats()).Batcher.Model);
        await Assert.ThrowsAsync<AccessDeniedException>(() => engine.ReleaseKv("acme/anything"));
        var part = new KvTransferPart { SequenceId = "acme/forged", TransferId = Guid.NewGuid(), TotalBytes = 1, Data = [0] };
        await Assert.ThrowsAsync<AccessDeniedException>(() => engine.ImportKv(part));
        TenantCredentials.Attach(KeyedSiloServer.Acme);
        await Assert.ThrowsAsync<AccessDeniedException>(() => engine.GetStats());
        await Assert.ThrowsAsync<AccessDeniedException>(() => engine.GetServingStats());
        TenantCredentials.Attach(null);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.StopAsync(CancellationToken.None);
            _client.Dispose();
        }
    }
}
