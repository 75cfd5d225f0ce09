using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;

namespace AutoGlm.Orleans.Cli;

/// <summary>The chat's commands: lines that start with '/', run against the chat's conversation.</summary>
internal sealed class SlashCommands(ConversationClient client, string conversation)
{
    public const string Help = """
        /reset                        forget the messages (the system prompt and default options stay)
        /history                      print the stored messages
        /truncation auto|disabled     what a turn does when the conversation outgrows the context window:
                                      drop the oldest turns from the model's view, or refuse the turn
        /help                         this list
        /exit                         end the chat (so does an empty line or Ctrl-D)
        """;

    /// <summary>Runs one command line; false when the chat should end.</summary>
    public async Task<bool> RunAsync(string line, CancellationToken cancellationToken)
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        switch (words[0].ToLowerInvariant())
        {
            case "/exit" or "/quit":
                return false;
            case "/help":
                Console.WriteLine(Help);
                break;
            case "/reset":
                await client.ResetAsync(conversation).WaitAsync(cancellationToken);
                Console.WriteLine("[conversation reset]");
                break;
            case "/history":
                var messages = await client.GetHistoryAsync(conversation).WaitAsync(cancellationToken);
                if (messages.Count == 0)
                {
                    Console.WriteLine("[no messages]");
                }

                Output.WriteHistory(messages);
                break;
            case "/truncation":
                await TruncationAsync(words.Length == 2 ? words[1] : null, cancellationToken);
                break;
            default:
                Console.WriteLine($"[unknown command {words[0]}; /help lists the commands]");
                break;
        }

        return true;
    }

    private async Task TruncationAsync(string? value, CancellationToken cancellationToken)
    {
        TruncationMode? mode = value?.ToLowerInvariant() switch
        {
            "auto" => TruncationMode.Auto,
            "disabled" => TruncationMode.Disabled,
            _ => null,
        };
        if (mode is null)
        {
            Console.WriteLine("[usage: /truncation auto|disabled]");
            return;
        }

        // Only the truncation changes: the call replaces the whole default options, so start from the stored ones.
        var status = await client.GetStatusAsync(conversation).WaitAsync(cancellationToken);
        var defaults = (status.DefaultOptions ?? new GenerationOptions()) with { Truncation = mode };
        await client.SetDefaultOptionsAsync(conversation, defaults).WaitAsync(cancellationToken);
        Console.WriteLine($"[truncation {mode.Value.ToString().ToLowerInvariant()}]");
    }
}
