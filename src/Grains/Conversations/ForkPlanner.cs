using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// Forks (OpenAI's previous_response_id naming an earlier turn): the parent's history through that turn, as its model
/// saw it — the system prompt and the messages of the window with their exact ids — so the fork's prompt repeats
/// the parent's token for token and the parent's KV for it can be copied instead of recomputed.
/// </summary>
public static class ForkPlanner
{
    /// <summary>The prefix through turn <paramref name="turnRequestId"/>; null when the log has no such response.</summary>
    public static ConversationPrefix? Prefix(ConversationLog log, string turnRequestId)
    {
        ArgumentNullException.ThrowIfNull(log);
        var last = log.FindResponse(turnRequestId);
        if (last < 0)
        {
            return null;
        }

        // The window the parent's model sees, unless the turn lies before it (then the turn alone starts the fork).
        var first = log.TurnStart(last);
        var start = Math.Min(log.WindowIndex, first);
        var messages = new ConversationMessage[last - start + 1];
        var tokens = log.SystemPrompt.TokenIds.Count;
        for (var i = start; i <= last; i++)
        {
            messages[i - start] = log.Messages[i];
            tokens += log.Messages[i].TokenIds.Count;
        }

        return new ConversationPrefix
        {
            SystemPrompt = log.SystemPrompt.Text is { } system
                ? new ConversationMessage { Role = MessageRole.System, Content = system, TokenIds = log.SystemPrompt.TokenIds }
                : null,
            Messages = messages,
            Tokens = tokens,
            DefaultOptions = log.DefaultOptions,
        };
    }

    /// <summary>
    /// How many leading tokens of <paramref name="prefix"/> this silo's KV for the parent covers: what a copy can share.
    /// Linear in the prefix.
    /// </summary>
    public static int Shareable(ConversationPrefix prefix, IReadOnlyList<int> cached)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(cached);
        var i = 0;
        foreach (var part in Parts(prefix))
        {
            foreach (var id in part)
            {
                if (i >= cached.Count || cached[i] != id)
                {
                    return i;
                }

                i++;
            }
        }

        return i;
    }

    /// <summary>The fork's seed: the prefix's messages with their ids as they are (never re-rendered).</summary>
    public static TurnSeed Seed(ConversationPrefix prefix, int vocabularySize)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        // The ids come from another grain of the cluster; still, never hand the engine an id outside the vocabulary.
        foreach (var part in Parts(prefix))
        {
            foreach (var id in part)
            {
                if ((uint)id >= (uint)vocabularySize)
                {
                    throw new InvalidConversationRequestException($"the forked history holds token id {id}, outside the vocabulary");
                }
            }
        }

        var system = prefix.SystemPrompt is { } s ? new SystemPromptRecord { Text = s.Content, TokenIds = s.TokenIds } : null;
        var last = prefix.Messages.Count > 0 ? prefix.Messages[^1] : prefix.SystemPrompt;
        return new TurnSeed(system, prefix.Messages, prefix.Tokens, last?.ToChat());
    }

    private static IEnumerable<IReadOnlyList<int>> Parts(ConversationPrefix prefix)
    {
        if (prefix.SystemPrompt is { } system)
        {
            yield return system.TokenIds;
        }

        foreach (var message in prefix.Messages)
        {
            yield return message.TokenIds;
        }
    }
}
