namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>
/// Turns a conversation into the exact prompt text a model was trained on. Implementations reproduce the
/// model's own (Jinja) template byte for byte: a stray newline changes the tokens and degrades the answers.
/// </summary>
public interface IChatTemplate
{
    /// <summary>The name a model manifest's <c>chat_template</c> refers to.</summary>
    string Name { get; }

    /// <summary>Renders the conversation; <paramref name="addGenerationPrompt"/> appends the header of the reply to generate.</summary>
    /// <exception cref="ArgumentException">No messages, or a message with an unknown role.</exception>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt);

    /// <summary>Text that ends the assistant's turn when it shows up in the generated output.</summary>
    IReadOnlyList<string> StopStrings { get; }
}
