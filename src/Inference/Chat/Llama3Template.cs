using System.Text;

namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>
/// Meta-Llama-3-Instruct's template: <c>&lt;|begin_of_text|&gt;</c> once, then per turn
/// <c>&lt;|start_header_id|&gt;{role}&lt;|end_header_id|&gt;\n\n{content | trim}&lt;|eot_id|&gt;</c>.
/// No default system prompt (that arrived with 3.1's template).
/// </summary>
public sealed class Llama3Template : IChatTemplate
{
    public const string TemplateName = "llama3";

    private const string BeginOfText = "<|begin_of_text|>";
    private const string StartHeader = "<|start_header_id|>";
    private const string EndHeader = "<|end_header_id|>\n\n";
    private const string EndOfTurn = "<|eot_id|>";

    public static Llama3Template Instance { get; } = new();

    public string Name => TemplateName;

    public IReadOnlyList<string> StopStrings { get; } = [EndOfTurn, "<|end_of_text|>"];

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ChatMessages.Validate(messages, TemplateName);
        var text = new StringBuilder(BeginOfText);
        foreach (var message in messages)
        {
            text.Append(StartHeader).Append(ChatMessages.RoleName(message.Role)).Append(EndHeader)
                .Append(JinjaTrim(message.Content)).Append(EndOfTurn);
        }

        if (addGenerationPrompt)
        {
            text.Append(StartHeader).Append("assistant").Append(EndHeader);
        }

        return text.ToString();
    }

    /// <summary>
    /// Jinja's <c>trim</c> is Python's <c>str.strip()</c>, whose whitespace also covers the ASCII separators
    /// U+001C..U+001F that <see cref="char.IsWhiteSpace(char)"/> leaves alone.
    /// </summary>
    private static ReadOnlySpan<char> JinjaTrim(string content)
    {
        var span = content.AsSpan();
        var start = 0;
        while (start < span.Length && IsPythonWhiteSpace(span[start]))
        {
            start++;
        }

        var end = span.Length;
        while (end > start && IsPythonWhiteSpace(span[end - 1]))
        {
            end--;
        }

        return span[start..end];
    }

    private static bool IsPythonWhiteSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';
}
