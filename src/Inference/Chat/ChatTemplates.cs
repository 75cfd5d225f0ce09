namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>The templates the engine can serve, by the name a model manifest gives.</summary>
public static class ChatTemplates
{
    private static readonly IChatTemplate[] All =
    [
        TinyChatTemplate.Instance,
        ChatMlTemplate.Instance,
        Llama3Template.Instance,
        Glm4Template.Instance,
    ];

    public static IReadOnlyList<string> Names { get; } = [.. All.Select(t => t.Name)];

    /// <exception cref="ArgumentException">No template has that name.</exception>
    public static IChatTemplate Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var template in All)
        {
            if (string.Equals(template.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return template;
            }
        }

        throw new ArgumentException(
            $"unknown chat template '{name}'; known templates: {string.Join(", ", Names)}", nameof(name));
    }
}
