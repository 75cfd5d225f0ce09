namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>A conversation read back after the load; <see cref="Error"/> when it could not be read (404 included).</summary>
public sealed record ConversationSnapshot(string Id, IReadOnlyList<StoredMessage> Messages, string? Error)
{
    public bool Found => Error is null;
}
