using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Grains.Tenancy;
using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains;

/// <summary>Registers what the grains need on a silo: its engine, the placement directors, the conversation store, the drain state.</summary>
public static class SiloBuilderExtensions
{
    /// <summary>
    /// Adds the AutoGlm grains to a silo: one <see cref="InferenceEngine"/> (a singleton, disposed with the silo)
    /// built from <paramref name="engineOptions"/>, the KV-aware conversation placement, the per-silo engine grain
    /// placement, and the sweep of idle KV. A conversation store must be added too:
    /// <see cref="AddAutoGlmRedisStorage"/> or <see cref="AddAutoGlmMemoryStorage"/>.
    /// </summary>
    public static ISiloBuilder AddAutoGlmGrains(this ISiloBuilder builder, Func<IServiceProvider, EngineOptions> engineOptions)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(engineOptions);
        builder.Services.TryAddSingleton(sp => InferenceEngine.Create(engineOptions(sp), sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        builder.Services.TryAddSingleton<LocalConversations>();
        builder.Services.TryAddSingleton<SiloDrain>();
        builder.Services.TryAddSingleton<SiloDrainer>();
        builder.Services.TryAddSingleton<Moves.OtherSilos>();
        builder.Services.TryAddSingleton<Moves.KvMover>();
        builder.Services.TryAddSingleton<Prefixes.SharedPrefixes>();
        builder.Services.AddHostedService<Moves.KvRebalancer>();
        builder.Services.TryAddSingleton<Serving.ServingMetrics>();
        builder.Services.TryAddSingleton<ApiKeyStore>();
        builder.AddIncomingGrainCallFilter<TenantCallFilter>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddOptions<ConversationOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, EngineWarmup>();
        builder.Services.AddHostedService<KvIdleSweeper>();
        builder.AddPlacementDirector<KvAwarePlacement, KvAwarePlacementDirector>();
        builder.AddPlacementDirector<SiloPinnedPlacement, SiloPinnedPlacementDirector>();
        return builder;
    }

    /// <summary>
    /// Conversations and the affinity index in Redis. Commands fail within a few seconds when Redis is away (the
    /// callers answer 503 storage_unavailable), and the connection comes back by itself when Redis does.
    /// </summary>
    public static ISiloBuilder AddAutoGlmRedisStorage(this ISiloBuilder builder, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        builder.Services.TryAddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(RedisConnections.Options(connectionString)));
        builder.Services.TryAddSingleton(sp => new RedisKeys(Options(sp).KeyPrefix, sp.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId));
        builder.Services.TryAddSingleton<IConversationStore>(sp => new RedisConversationStore(
            sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<Serializer>(), sp.GetRequiredService<RedisKeys>(), Options(sp)));
        builder.Services.TryAddSingleton<IConversationIndexStore>(sp => new RedisConversationIndexStore(
            sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>(), Options(sp)));
        return builder;
    }

    /// <summary>Conversations in this process's memory: one silo, no Redis (lost with the process).</summary>
    public static ISiloBuilder AddAutoGlmMemoryStorage(this ISiloBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<IConversationStore>(sp => new MemoryConversationStore(Options(sp), sp.GetRequiredService<TimeProvider>()));
        builder.Services.TryAddSingleton<IConversationIndexStore>(sp =>
            new MemoryConversationIndexStore(Options(sp), sp.GetRequiredService<TimeProvider>()));
        return builder;
    }

    private static ConversationOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<ConversationOptions>>().Value;
}
