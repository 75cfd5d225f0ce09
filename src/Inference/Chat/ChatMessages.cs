namespace AutoGlm.Orleans.Inference.Chat;

/// <summary>Checks shared by every template, so each rejects bad input with the same message.</summary>
internal static class ChatMessages
{
    public static void Validate(IReadOnlyList<ChatMessage> messages, string templateName)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0)
        {
            throw new ArgumentException($"chat template '{templateName}': the conversation has no messages", nameof(messages));
        }

        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i]
                ?? throw new ArgumentException($"chat template '{templateName}': message {i} is null", nameof(messages));
            if (!Enum.IsDefined(message.Role))
            {
                throw new ArgumentException(
                    $"chat template '{templateName}': message {i} has unknown role {(int)message.Role}", nameof(messages));
            }

            if (message.Content is null)
            {
                throw new ArgumentException($"chat template '{templateName}': message {i} has null content", nameof(messages));
            }
        }
    }

    /// <summary>The role as the Jinja templates spell it (message['role']).</summary>
    public static string RoleName(ChatRole role) => role switch
    {
        ChatRole.System => "system",
        ChatRole.User => "user",
        ChatRole.Assistant => "assistant",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "unknown chat role"),
    };
}
