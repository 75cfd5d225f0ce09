namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>One turn of a conversation, before a template turns it into prompt text.</summary>
public sealed record ChatMessage(ChatRole Role, string Content);
