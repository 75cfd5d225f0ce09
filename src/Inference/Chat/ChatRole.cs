namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>Who said a message. Templates render the lower-case name (system, user, assistant).</summary>
public enum ChatRole
{
    System,
    User,
    Assistant,
}
