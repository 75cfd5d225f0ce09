namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>A conversation of the workload: its id and its turns, played in order.</summary>
public sealed record ConversationScript(string Id, IReadOnlyList<ChatTurn> Turns);
