namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>One message of a conversation as <c>GET /conversations/{id}</c> returns it.</summary>
public sealed record StoredMessage(string Role, string Content, string? RequestId);
