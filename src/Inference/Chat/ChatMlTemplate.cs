using System.Text;

namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>
/// ChatML as Qwen2-Instruct's tokenizer_config.json renders it: every turn is
/// <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c>, and a conversation that does not open with a
/// system message gets Qwen2's default one, because the model was tuned with it always present.
/// </summary>
public sealed class ChatMlTemplate : IChatTemplate
{
    public const string TemplateName = "chatml";
    public const string DefaultSystemPrompt = "You are a helpful assistant.";

    private const string Start = "<|im_start|>";
    private const string End = "<|im_end|>";

    public static ChatMlTemplate Instance { get; } = new();

    public string Name => TemplateName;

    public IReadOnlyList<string> StopStrings { get; } = [End, "<|endoftext|>"];

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ChatMessages.Validate(messages, TemplateName);
        var text = new StringBuilder();
        if (messages[0].Role != ChatRole.System)
        {
            AppendTurn(text, "system", DefaultSystemPrompt);
        }

        foreach (var message in messages)
        {
            AppendTurn(text, ChatMessages.RoleName(message.Role), message.Content);
        }

        if (addGenerationPrompt)
        {
            text.Append(Start).Append("assistant\n");
        }

        return text.ToString();
    }

    private static void AppendTurn(StringBuilder text, string role, string content) =>
        text.Append(Start).Append(role).Append('\n').Append(content).Append(End).Append('\n');
}
