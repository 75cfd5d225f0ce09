using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Grains;
using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace AutoGlm.Orleans.Cluster.Tests.Support;

/// <summary>In-process clusters of real silos, each with its own engine over the default model and Redis grain storage.</summary>
public static class TestClusters
{
    /// <summary>Small engines: one ONNX thread each so three silos share two cores.</summary>
    public static EngineOptions Engine() => new()
    {
        ModelPath = RepositoryPaths.DefaultModel,
        IntraOpThreads = 1,
        MaxBatchSize = 16,
        MaxTokensPerStep = 128,
        MaxQueueLength = 256,
        KvBudgetBytes = 256L * 1024 * 1024,
    };

    /// <summary>Short turn leases, so a vanished caller frees its conversation within a test's patience.</summary>
    public static readonly TimeSpan TurnLease = TimeSpan.FromSeconds(1);

    public static async Task<InProcessTestCluster> StartAsync(int silos, string redisConnectionString, string serviceId,
        Action<ConversationOptions>? conversations = null, Func<EngineOptions, EngineOptions>? engine = null)
    {
        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.Options.ServiceId = serviceId;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddAutoGlmGrains(_ => engine is null ? Engine() : engine(Engine()));
            silo.Services.Configure<ConversationOptions>(o =>
            {
                o.TurnLease = TurnLease;
                conversations?.Invoke(o);
            });
            silo.AddAutoGlmRedisStorage(redisConnectionString);
            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Declare a killed silo dead in a few seconds, not ~15.
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(1);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(2);
            });
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(20));
        });
        builder.ConfigureClient(client =>
        {
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(20));
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));
            client.Services.AddAutoGlmConversations();
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        // Placement only considers silos whose grain manifest every silo has seen.
        await cluster.WaitForClusterManifestToStabilizeAsync(didKill: false);
        return cluster;
    }

    public static ConversationClient Conversations(this InProcessTestCluster cluster) =>
        cluster.Client.ServiceProvider.GetRequiredService<ConversationClient>();
}
