using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>A stored message as the chat template sees it (role and text): what a segment renders after.</summary>
public static class StoredMessageChat
{
    public static ChatRole ToChatRole(this MessageRole role) => role switch
    {
        MessageRole.User => ChatRole.User,
        MessageRole.Assistant => ChatRole.Assistant,
        _ => ChatRole.System,
    };

    public static ChatMessage ToChat(this ConversationMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new ChatMessage(message.Role.ToChatRole(), message.Content);
    }
}
