namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>One HTTP answer, read whole: its status, body, and the headers a tenancy claim looks at.</summary>
public sealed record ApiAnswer(int Status, string Body, string? ConversationId, string? WwwAuthenticate);
