using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;

namespace AutoGlm.Orleans.Cli;

/// <summary>What the commands print of replies and histories: the text on stdout, the accounting on stderr.</summary>
internal static class Output
{
    /// <summary>Sends one turn and streams its reply to stdout.</summary>
    public static async Task StreamReplyAsync(ConversationClient client, string conversation, string message, GenerationOptions options,
        CancellationToken cancellationToken)
    {
        await foreach (var chunk in client.SendStreamingAsync(conversation, message, options, cancellationToken: cancellationToken))
        {
            if (chunk.Restarted)
            {
                Console.WriteLine();
                Console.WriteLine("[the silo died; retrying the turn]");
            }

            Console.Write(chunk.Text);
            if (chunk.IsFinal)
            {
                Console.WriteLine();
                if (chunk.Usage is { } usage)
                {
                    Console.Error.WriteLine(Usage(chunk.FinishReason!.Value, usage, chunk.Silo));
                }
            }
        }
    }

    /// <summary>The stored messages of a conversation that must exist (a history of none is indistinguishable otherwise).</summary>
    public static async Task<IReadOnlyList<ConversationMessage>> ExistingHistoryAsync(ConversationClient client, string conversation,
        CancellationToken cancellationToken)
    {
        var messages = await client.GetHistoryAsync(conversation).WaitAsync(cancellationToken);

        // The grain answers an empty history for an id never used; only its status tells that from a reset one.
        if (messages.Count == 0 && !(await client.GetStatusAsync(conversation).WaitAsync(cancellationToken)).Exists)
        {
            throw new ConversationNotFoundException($"conversation '{conversation}' does not exist");
        }

        return messages;
    }

    public static void WriteHistory(IReadOnlyList<ConversationMessage> messages)
    {
        foreach (var message in messages)
        {
            Console.WriteLine($"[{message.Role.ToString().ToLowerInvariant()}] {message.Content}");
        }
    }

    private static string Usage(ReplyFinishReason reason, TurnUsage usage, string? silo)
    {
        var truncated = usage.TruncatedTokens > 0 ? $"; truncated {usage.TruncatedTokens}" : string.Empty;
        return $"[{reason.ToString().ToLowerInvariant()}; prompt {usage.PromptTokens} = cached {usage.CachedTokens} + computed {usage.ComputedTokens}; "
            + $"completion {usage.CompletionTokens}{truncated}; {silo}]";
    }
}
