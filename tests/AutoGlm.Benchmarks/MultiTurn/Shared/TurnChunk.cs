namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// What a system streams back: <see cref="Tokens"/> new tokens that just arrived, and on the last chunk the usage.
/// The driver stamps the time of each chunk, so systems never measure themselves.
/// </summary>
public sealed record TurnChunk(int Tokens, TurnUsage? Usage = null);
