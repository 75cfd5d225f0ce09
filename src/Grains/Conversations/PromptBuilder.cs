using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Models;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// Builds prompts as token ids from stored segments: a message's segment is the text the model's chat template
/// adds for it (the rendering with the message minus the rendering without it), so any template works, and a
/// turn's prompt is the stored ids of the history + the new user segment + the generation prompt. Never
/// re-tokenizing the history keeps the ids identical to what the engine cached (prefix reuse).
/// Every template renders a message from its own content and its position (first or not), so a segment is
/// rendered from a window of the message and the one before it: the cost of a message is linear in its size,
/// whatever the history's length.
/// </summary>
public sealed class PromptBuilder(Tokenizer tokenizer, IChatTemplate template, ModelManifest manifest)
{
    public static PromptBuilder For(InferenceEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return new PromptBuilder(engine.Tokenizer, engine.ChatTemplate, engine.Manifest);
    }

    public int ContextLength => manifest.ContextLength;

    public int[] Encode(string text) => text.Length == 0 ? [] : [.. tokenizer.EncodeToIds(text)];

    /// <summary>Encodes <paramref name="text"/> when it takes at most <paramref name="maxTokens"/> tokens; the work stops there otherwise.</summary>
    public bool TryEncode(string text, int maxTokens, out int[] ids)
    {
        ids = [];
        if (text.Length == 0)
        {
            return true;
        }

        if (maxTokens <= 0)
        {
            return false;
        }

        var encoded = tokenizer.EncodeToIds(text, maxTokens, out var normalized, out var consumed);
        if (consumed < (normalized ?? text).Length)
        {
            return false;
        }

        ids = [.. encoded];
        return true;
    }

    /// <summary>The text the template renders for <paramref name="message"/> after <paramref name="previous"/> (null: it comes first).</summary>
    public string Segment(ChatMessage? previous, ChatMessage message)
    {
        if (previous is null)
        {
            return template.Render([message], addGenerationPrompt: false);
        }

        var before = template.Render([previous], addGenerationPrompt: false);
        var full = template.Render([previous, message], addGenerationPrompt: false);
        return full.StartsWith(before, StringComparison.Ordinal) ? full[before.Length..] : template.Render([message], addGenerationPrompt: false);
    }

    /// <summary>
    /// The text the template puts before a first message only (a begin-of-text marker): what rendering
    /// <paramref name="message"/> first adds to rendering it after <paramref name="previous"/>. Empty for a template
    /// whose first message looks like any other.
    /// </summary>
    public string FirstHead(ChatMessage previous, ChatMessage message)
    {
        var first = Segment(null, message);
        var later = Segment(previous, message);
        return first.Length > later.Length && first.EndsWith(later, StringComparison.Ordinal) ? first[..^later.Length] : string.Empty;
    }

    /// <summary>The header the template appends to ask for the assistant's reply after <paramref name="last"/>.</summary>
    public string GenerationPrompt(ChatMessage last)
    {
        var with = template.Render([last], addGenerationPrompt: true);
        var without = template.Render([last], addGenerationPrompt: false);
        return with.StartsWith(without, StringComparison.Ordinal) ? with[without.Length..] : string.Empty;
    }

    /// <summary>
    /// Ids that close an assistant reply (tiny-chat: &lt;|endoftext|&gt;): what the template renders after the
    /// reply's text; the model's end-of-turn token when the template's shape does not tell.
    /// </summary>
    public int[] AssistantClose(ChatMessage user, ChatMessage reply, string generationPrompt)
    {
        var segment = Segment(user, reply);
        var head = generationPrompt + reply.Content;
        if (segment.StartsWith(head, StringComparison.Ordinal))
        {
            return Encode(segment[head.Length..]);
        }

        // GLM-4 renders a reply as "<|assistant|>\n{content}" after a bare "<|assistant|>" generation prompt, and
        // nothing after it: the next turn's header ends the turn (the model's stop token), so nothing closes it.
        if (segment.StartsWith(generationPrompt, StringComparison.Ordinal) && segment.EndsWith(reply.Content, StringComparison.Ordinal))
        {
            return [];
        }

        var endOfTurn = manifest.EndOfTurnTokenIds;
        return endOfTurn.Count > 0 ? [endOfTurn[0]] : manifest.EosTokenId is { } eos ? [eos] : [];
    }
}
