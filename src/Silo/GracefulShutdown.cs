using AutoGlm.Orleans.Grains;

namespace AutoGlm.Orleans.Silo;

/// <summary>
/// SIGTERM, before anything else stops: the silo drains (<see cref="SiloDrainer"/>): /healthz answers 503, placement
/// skips it, HTTP turns are refused with a retryable 503, its conversations leave with their KV for other silos,
/// running turns get their deadline. Only then do Kestrel and the Orleans silo stop.
/// </summary>
public sealed class GracefulShutdown(SiloDrainer drainer) : IHostedLifecycleService
{
    public Task StoppingAsync(CancellationToken cancellationToken) => drainer.DrainAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
