namespace AutoGlm.Orleans.Grains;

/// <summary>Configuration section "Conversations": how long conversations live, what they keep, how turns end.</summary>
public sealed class ConversationOptions
{
    public const string Section = "Conversations";

    /// <summary>
    /// A conversation idle (no change) this long leaves the store, and its KV leaves every silo's pool.
    /// Zero keeps conversations for ever.
    /// </summary>
    public TimeSpan IdleTtl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Request ids remembered per conversation for retries (the oldest are forgotten first).</summary>
    public int MaxRequestIds { get; set; } = 256;

    /// <summary>Prefix of every Redis key (the service id follows, so services can share one Redis).</summary>
    public string KeyPrefix { get; set; } = "autoglm";

    /// <summary>Conversations kept by the in-memory store (one silo without Redis); the least recently changed go first.</summary>
    public int MaxInMemoryConversations { get; set; } = 100_000;

    /// <summary>
    /// A running turn whose every reader stopped pulling its reply this long is cancelled (its caller died or
    /// vanished), so the conversation takes the caller's retry. A live reader pulls within milliseconds.
    /// </summary>
    public TimeSpan TurnLease { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A streamed reply's first token goes out at once; later ones that arrive within this window of the previous
    /// chunk go out together in one chunk, so a stream's chunk rate (messages to the gateway, SSE events) stays under
    /// one per window however fast the engine decodes or however many streams run. Zero: one chunk per read.
    /// </summary>
    public TimeSpan ChunkWindow { get; set; } = TimeSpan.FromMilliseconds(4);

    /// <summary>On shutdown (SIGTERM), how long running turns may take to finish before they end with an error.</summary>
    public TimeSpan ShutdownDeadline { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// On shutdown, how long moving the conversations' KV to other silos may take, each and all together; what has not
    /// moved by then is recomputed on its next turn (counted in kv_move_fallbacks). Zero turns moving off.
    /// </summary>
    public TimeSpan MoveDeadline { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often a silo checks whether to hand idle conversations (with their KV) to a less loaded one; zero: never.</summary>
    public TimeSpan RebalancePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>KV use (of the budget) past which a silo hands idle conversations to another.</summary>
    public double RebalanceHighWatermark { get; set; } = 0.85;

    /// <summary>It hands them until back under this, and only to a silo that stays under it.</summary>
    public double RebalanceLowWatermark { get; set; } = 0.6;

    /// <summary>KV moves a draining silo runs at once.</summary>
    public int ParallelMoves { get; set; } = 4;

    public void Validate()
    {
        if (IdleTtl < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(IdleTtl), IdleTtl, "Conversations:IdleTtl must not be negative");
        }

        if (TurnLease <= TimeSpan.Zero || ShutdownDeadline < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(TurnLease), "Conversations:TurnLease must be positive, ShutdownDeadline not negative");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MoveDeadline, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(ChunkWindow, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ParallelMoves);
        if (!(RebalanceLowWatermark > 0 && RebalanceLowWatermark < RebalanceHighWatermark && RebalanceHighWatermark <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(RebalanceHighWatermark), "Conversations: 0 < RebalanceLowWatermark < RebalanceHighWatermark <= 1");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxRequestIds);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxInMemoryConversations);
        ArgumentException.ThrowIfNullOrWhiteSpace(KeyPrefix);
    }
}
