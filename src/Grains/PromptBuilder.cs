using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// Builds prompts as token ids from stored segments: each message's segment is the text the model's chat template
/// adds for it (the rendering of the history with the message minus the rendering without it), so any template
/// works, and a turn's prompt is the stored ids of the history + the new user segment + the generation prompt.
/// Never re-tokenizing the history keeps the ids identical to what the engine cached (prefix reuse).
/// </summary>
internal sealed class PromptBuilder(InferenceEngine engine)
{
    private IChatTemplate Template => engine.ChatTemplate;

    public int[] Encode(string text) => text.Length == 0 ? [] : [.. engine.Tokenizer.EncodeToIds(text)];

    /// <summary>The text the template renders for the last of <paramref name="messages"/>.</summary>
    public string Segment(IReadOnlyList<ChatMessage> messages)
    {
        var full = Template.Render(messages, addGenerationPrompt: false);
        if (messages.Count == 1)
        {
            return full;
        }

        var before = Template.Render(messages.Take(messages.Count - 1).ToList(), addGenerationPrompt: false);
        return full.StartsWith(before, StringComparison.Ordinal)
            ? full[before.Length..]
            : Template.Render([messages[^1]], addGenerationPrompt: false);
    }

    /// <summary>The header the template appends to ask for the assistant's reply after <paramref name="messages"/>.</summary>
    public string GenerationPrompt(IReadOnlyList<ChatMessage> messages)
    {
        var with = Template.Render(messages, addGenerationPrompt: true);
        var without = Template.Render(messages, addGenerationPrompt: false);
        return with.StartsWith(without, StringComparison.Ordinal) ? with[without.Length..] : string.Empty;
    }

    /// <summary>
    /// Ids that close an assistant reply (tiny-chat: &lt;|endoftext|&gt;): what the template renders after the
    /// reply's text; the model's end-of-turn token when the template's shape does not tell.
    /// </summary>
    public int[] AssistantClose(IReadOnlyList<ChatMessage> messagesWithReply, string generationPrompt)
    {
        var reply = messagesWithReply[^1].Content;
        var segment = Segment(messagesWithReply);
        var head = generationPrompt + reply;
        if (segment.StartsWith(head, StringComparison.Ordinal))
        {
            return Encode(segment[head.Length..]);
        }

        var endOfTurn = engine.Manifest.EndOfTurnTokenIds;
        return endOfTurn.Count > 0 ? [endOfTurn[0]] : engine.Manifest.EosTokenId is { } eos ? [eos] : [];
    }
}
