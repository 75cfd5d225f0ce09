namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// One user turn of a scripted conversation. <see cref="SegmentTokenIds"/> is what the turn adds to the token
/// history before the reply: the end of the previous reply (from the second turn on), the rendered user message
/// and the assistant header. Token-level systems append exactly these ids, so every system sees the same prompt.
/// </summary>
public sealed record ChatTurn(int Index, string UserText, int[] SegmentTokenIds, int ReplyTokens);
