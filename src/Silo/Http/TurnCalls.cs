using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains;
using Microsoft.Extensions.Options;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>Starts <see cref="TurnCall"/>s with this silo's grain factory, drain state and HTTP turn settings.</summary>
public sealed class TurnCalls(IGrainFactory grains, SiloDrain drain, IClusterMembershipService membership, IOptions<HttpTurnOptions> options)
{
    /// <param name="streaming">A streaming turn has no deadline (its client sees progress and may hang up); a whole reply has one.</param>
    public Task<TurnCall> StartAsync(string conversationId, TurnRequest request, bool streaming, CancellationToken requestAborted) =>
        TurnCall.StartAsync(grains, drain, membership, conversationId, request, streaming ? null : options.Value.TurnTimeout,
            options.Value.FailoverWait, requestAborted);
}

/// <summary>Configuration section "Http": how long an HTTP turn may take, and how long its server-side failover waits.</summary>
public sealed class HttpTurnOptions
{
    public const string Section = "Http";

    /// <summary>A non-streaming turn that runs longer is cancelled; its client is told to retry with the same key.</summary>
    public TimeSpan TurnTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long the one server-side retry of a turn cut by a silo's death waits for the cluster to notice the death.</summary>
    public TimeSpan FailoverWait { get; set; } = TimeSpan.FromSeconds(10);
}
