using System.Diagnostics.Metrics;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>Meter "AutoGlm.Orleans.Conversations": what conversations commit, replay, recompute and refuse.</summary>
internal static class ConversationMetrics
{
    public const string MeterName = "AutoGlm.Orleans.Conversations";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> Turns = Meter.CreateCounter<long>("autoglm.conversation.turns", "{turn}");

    public static readonly Counter<long> CachedTokens = Meter.CreateCounter<long>("autoglm.conversation.cached_tokens", "{token}");

    public static readonly Counter<long> RecomputedTokens = Meter.CreateCounter<long>("autoglm.conversation.recomputed_tokens", "{token}",
        "History tokens prefilled again because their KV was lost (eviction, failover, restart)");

    public static readonly Counter<long> Truncations = Meter.CreateCounter<long>("autoglm.conversation.truncations", "{turn}",
        "Turns that moved the model's view past older turns (truncation auto); each re-prefills the kept history once");

    public static readonly Counter<long> SharedTokens = Meter.CreateCounter<long>("autoglm.conversation.shared_tokens", "{token}",
        "History tokens whose KV a fork copied from its parent on the same silo instead of computing them");

    public static readonly Counter<long> KvMoves = Meter.CreateCounter<long>("autoglm.conversation.kv_moves", "{conversation}",
        "Conversations whose KV moved with them off a draining silo");

    public static readonly Counter<long> KvBytesMoved = Meter.CreateCounter<long>("autoglm.conversation.kv_bytes_moved", "By",
        "KV bytes sent to other silos by draining conversations");

    public static readonly Counter<long> RecomputeAvoided = Meter.CreateCounter<long>("autoglm.conversation.recompute_avoided_tokens", "{token}",
        "History tokens whose KV moved instead of being recomputed on the next silo");

    public static readonly Counter<long> KvMoveFallbacks = Meter.CreateCounter<long>("autoglm.conversation.kv_move_fallbacks", "{conversation}",
        "Draining conversations whose KV could not move (no room, no target, the deadline): their next turn recomputes");

    public static readonly Counter<long> KvImported = Meter.CreateCounter<long>("autoglm.conversation.kv_imported", "{conversation}",
        "KV transfers this silo took from draining silos");

    public static readonly Histogram<double> DrainSeconds = Meter.CreateHistogram<double>("autoglm.silo.drain_seconds", "s",
        "From SIGTERM (or an admin drain) until every conversation left and every turn ended");

    public static readonly Counter<long> Replays = Meter.CreateCounter<long>("autoglm.conversation.replays", "{request}",
        "Retried request ids answered with what the first attempt stored");

    public static readonly Counter<long> Attached = Meter.CreateCounter<long>("autoglm.conversation.attached", "{request}",
        "Retried request ids that joined the attempt still running");

    public static readonly Counter<long> Abandoned = Meter.CreateCounter<long>("autoglm.conversation.abandoned_turns", "{turn}",
        "Turns cancelled because their callers left or stopped reading (lease expired)");

    public static readonly Histogram<long> BytesWritten = Meter.CreateHistogram<long>("autoglm.conversation.storage_bytes_written", "By",
        "Payload bytes one change sent to the store");

    public static readonly Counter<long> StorageErrors = Meter.CreateCounter<long>("autoglm.conversation.storage_errors", "{error}",
        "Store calls that failed (unavailable, timed out) or found the stored version changed");
}
