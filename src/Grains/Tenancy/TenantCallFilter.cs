using AutoGlm.Orleans.Abstractions;
using Orleans.Runtime;

namespace AutoGlm.Orleans.Grains.Tenancy;

/// <summary>
/// Checks every grain call that comes from outside the cluster (a gateway client) when keys are configured: a
/// conversation only answers a key of its own tenant (any other caller hears that it does not exist, so its
/// existence does not leak); every other grain (the per-silo engine grains, Orleans' management grain, …) answers only
/// an admin key, and the engine grains' KV import/release never answer a client at all. Calls from the silos themselves
/// (grains, the HTTP API, placement, shutdown) pass: the HTTP API has checked its caller's key already and passes it
/// on, which this filter checks again.
/// </summary>
public sealed class TenantCallFilter(ApiKeyStore keys, IClusterMembershipService membership, ILocalSiloDetails localSilo) : IIncomingGrainCallFilter
{
    private const string HostedClientPrefix = "hosted-";

    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!keys.IsEnabled)
        {
            return context.Invoke();
        }

        var external = IsExternal(context.SourceId);
        var presented = TenantCredentials.Current;
        if (context.TargetContext.GrainInstance is ConversationGrain)
        {
            // In-silo callers without a key (shutdown's Leave) are trusted; a presented key is always checked.
            if (!external && presented is null)
            {
                return context.Invoke();
            }

            var key = context.TargetId.Key.ToString()!;
            if (!keys.TryFind(presented, out var entry) || !string.Equals(entry.Tenant, ConversationKeys.TenantOf(key), StringComparison.Ordinal))
            {
                throw new ConversationNotFoundException($"conversation '{ConversationKeys.IdOf(key)}' does not exist");
            }

            return context.Invoke();
        }

        // Orleans' system targets serve a client's own protocol (cluster manifest, gateway list, …): a client needs them
        // to connect at all. The gateway port itself is guarded by TLS (Orleans:Tls), not by keys.
        if (!external || context.TargetId.IsSystemTarget())
        {
            return context.Invoke();
        }

        // Only the engine grains' read-only calls are a client's (an admin's): a KV import or release is a silo's; the
        // check names what is allowed rather than what is not.
        if (context.TargetContext.GrainInstance is Engine.SiloEngineGrain
            && context.MethodName is not (nameof(ISiloEngineGrain.GetStats) or nameof(ISiloEngineGrain.GetServingStats) or nameof(ISiloEngineGrain.Probe)))
        {
            throw new AccessDeniedException("a silo's engine grain takes KV transfers and releases from silos only");
        }

        return keys.TryFind(presented, out var admin) && admin.Admin
            ? context.Invoke()
            : throw new AccessDeniedException($"{context.InterfaceName}.{context.MethodName} needs an admin key");
    }

    /// <summary>A gateway client, not a silo's own hosted client (which runs the HTTP API and placement in-process).</summary>
    private bool IsExternal(GrainId? source)
    {
        // Observer references are clients too (type "sys.client", key "{client}+{observer}"): the client part decides.
        if (source is not { } id || !id.IsClient())
        {
            return false;
        }

        var name = id.Key.ToString()!;
        if (!name.StartsWith(HostedClientPrefix, StringComparison.Ordinal))
        {
            return true;
        }

        // Only the hosted client of this silo (a member or not yet: it calls the membership table while it joins) or of
        // a silo of this cluster counts as one of ours.
        var silo = name[HostedClientPrefix.Length..];
        return !string.Equals(localSilo.SiloAddress.ToParsableString(), silo, StringComparison.Ordinal)
            && !membership.CurrentSnapshot.Members.Keys.Any(s => string.Equals(s.ToParsableString(), silo, StringComparison.Ordinal));
    }
}
