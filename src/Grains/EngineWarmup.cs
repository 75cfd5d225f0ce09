using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Loads the silo's engine while the silo starts, before it accepts grains: a lazily created engine would make the
/// first placement probe (and first turn) wait for the model to load, and placement would skip the silo.
/// </summary>
internal sealed class EngineWarmup(IServiceProvider services, ILogger<EngineWarmup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe(nameof(EngineWarmup), ServiceLifecycleStage.RuntimeInitialize, _ =>
        {
            var engine = services.GetRequiredService<InferenceEngine>();
            logger.LogInformation("Engine ready: {Model}, context {Context}, KV budget {Budget} bytes",
                engine.Manifest.Name, engine.Manifest.ContextLength, engine.Pool.BudgetBytes);
            return Task.CompletedTask;
        });

        // Activate this silo's engine grain as soon as the silo is active, so placement probes find it ready.
        lifecycle.Subscribe(nameof(EngineWarmup), ServiceLifecycleStage.Active, async _ =>
        {
            try
            {
                var silo = services.GetRequiredService<ILocalSiloDetails>().SiloAddress;
                await SiloEngineGrainKeys.ForSilo(services.GetRequiredService<IGrainFactory>(), silo).GetStats();
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Could not activate this silo's engine grain at start; it activates on first use");
            }
        });
    }
}
