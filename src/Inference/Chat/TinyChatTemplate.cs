using System.Text;

namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>
/// The default model's template (tools/model/chat_template.py, which trained and exported it): role markers are
/// plain text that r50k_base splits into ordinary tokens, and <c>&lt;|endoftext|&gt;</c> closes an assistant turn.
/// </summary>
public sealed class TinyChatTemplate : IChatTemplate
{
    public const string TemplateName = "tiny-chat";

    private const string System = "<|system|>\n";
    private const string User = "<|user|>\n";
    private const string Assistant = "<|assistant|>\n";
    private const string EndOfTurn = "<|endoftext|>";

    public static TinyChatTemplate Instance { get; } = new();

    public string Name => TemplateName;

    // A small model can skip its end-of-turn token and start writing the next user turn itself.
    public IReadOnlyList<string> StopStrings { get; } = [EndOfTurn, "<|user|>"];

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ChatMessages.Validate(messages, TemplateName);
        var text = new StringBuilder();
        foreach (var message in messages)
        {
            switch (message.Role)
            {
                case ChatRole.System:
                    text.Append(System).Append(message.Content).Append('\n');
                    break;
                case ChatRole.User:
                    text.Append(User).Append(message.Content).Append('\n');
                    break;
                default:
                    text.Append(Assistant).Append(message.Content).Append(EndOfTurn);
                    break;
            }
        }

        if (addGenerationPrompt)
        {
            text.Append(Assistant);
        }

        return text.ToString();
    }
}
