using System.Text;

namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>
/// GLM-4-9b-chat's template without tools: <c>[gMASK]&lt;sop&gt;</c>, then <c>&lt;|{role}|&gt;\n{content}</c> per turn
/// with no separator or end marker, and a bare <c>&lt;|assistant|&gt;</c> as the generation prompt. As the
/// official template does (<c>{% if item['content'] %}</c>), turns with empty content are left out.
/// </summary>
public sealed class Glm4Template : IChatTemplate
{
    public const string TemplateName = "glm4";

    private const string Prefix = "[gMASK]<sop>";

    public static Glm4Template Instance { get; } = new();

    public string Name => TemplateName;

    // GLM-4 ends its turn by starting the next speaker's header; eos_token_id lists exactly these three.
    public IReadOnlyList<string> StopStrings { get; } = ["<|endoftext|>", "<|user|>", "<|observation|>"];

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ChatMessages.Validate(messages, TemplateName);
        var text = new StringBuilder(Prefix);
        foreach (var message in messages)
        {
            if (message.Content.Length == 0)
            {
                continue;
            }

            text.Append("<|").Append(ChatMessages.RoleName(message.Role)).Append("|>\n").Append(message.Content);
        }

        if (addGenerationPrompt)
        {
            text.Append("<|assistant|>");
        }

        return text.ToString();
    }
}
