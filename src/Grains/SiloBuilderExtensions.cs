using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AutoGlm.Orleans.Grains;

/// <summary>Registers what the grains need on a silo: its engine, the placement directors, the local registry.</summary>
public static class SiloBuilderExtensions
{
    /// <summary>
    /// Adds the AutoGlm grains to a silo: one <see cref="InferenceEngine"/> (a singleton, disposed with the silo)
    /// built from <paramref name="engineOptions"/>, the KV-aware conversation placement and the per-silo batcher
    /// placement. Grain storage named <see cref="ConversationGrain.StorageName"/> must be added separately.
    /// </summary>
    public static ISiloBuilder AddAutoGlmGrains(this ISiloBuilder builder, Func<IServiceProvider, EngineOptions> engineOptions)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(engineOptions);
        builder.Services.TryAddSingleton(sp => InferenceEngine.Create(engineOptions(sp), sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        builder.Services.TryAddSingleton<LocalConversations>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, EngineWarmup>();
        builder.AddPlacementDirector<KvAwarePlacement, KvAwarePlacementDirector>();
        builder.AddPlacementDirector<SiloPinnedPlacement, SiloPinnedPlacementDirector>();
        return builder;
    }
}
