using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Tests.Support;

/// <summary>A real template that counts how many messages it was asked to render: the work a prompt costs.</summary>
internal sealed class CountingTemplate(IChatTemplate inner) : IChatTemplate
{
    public long MessagesRendered { get; private set; }

    public string Name => inner.Name;

    public IReadOnlyList<string> StopStrings => inner.StopStrings;

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        MessagesRendered += messages.Count;
        return inner.Render(messages, addGenerationPrompt);
    }
}
