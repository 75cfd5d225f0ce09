namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// The workload: N conversations of T turns, each turn a new user message and a reply of drawn lengths, played
/// by C concurrent clients. The defaults take histories past 1500 tokens by turn 8 on a 2048-token model.
/// </summary>
public sealed record WorkloadOptions
{
    public int Conversations { get; init; } = 16;

    public int Turns { get; init; } = 8;

    /// <summary>Concurrent clients; the first is the main run, the others feed the throughput-by-concurrency chart.</summary>
    public IReadOnlyList<int> Concurrencies { get; init; } = [16];

    /// <summary>Tokens of each new user message's text (before the template's markers).</summary>
    public LengthDistribution UserTokens { get; init; } = LengthDistribution.Parse("uniform:60:120");

    /// <summary>Tokens of each reply; generated exactly (no stop token, max new tokens = this).</summary>
    public LengthDistribution ReplyTokens { get; init; } = LengthDistribution.Parse("uniform:80:160");

    public int Seed { get; init; } = 1234;

    /// <summary>A small workload for development: 4 conversations of 4 short turns, concurrency 4.</summary>
    public static WorkloadOptions Quick { get; } = new()
    {
        Conversations = 4,
        Turns = 4,
        Concurrencies = [4],
        UserTokens = LengthDistribution.Parse("uniform:20:40"),
        ReplyTokens = LengthDistribution.Parse("uniform:16:32"),
    };
}
