using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Releases KV handles that sat unused longer than the conversations' idle TTL: their conversations left the store
/// (or will as they expire), so the bytes would never be read again. Runs every TTL/4 (at most once a minute).
/// </summary>
public sealed class KvIdleSweeper(InferenceEngine engine, IOptions<ConversationOptions> options, TimeProvider time, ILogger<KvIdleSweeper> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ttl = options.Value.IdleTtl;
        if (ttl <= TimeSpan.Zero)
        {
            return;
        }

        var period = TimeSpan.FromTicks(Math.Clamp(ttl.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromMinutes(1).Ticks));
        using var timer = new PeriodicTimer(period, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            var released = engine.Pool.ReleaseIdle(ttl);
            if (released > 0)
            {
                logger.LogInformation("Released the KV of {Count} conversations idle longer than {Ttl}", released, ttl);
            }
        }
    }
}
