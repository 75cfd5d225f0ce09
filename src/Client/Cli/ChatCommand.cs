using System.CommandLine;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Cli;

/// <summary>chat: an interactive, streaming conversation; lines starting with '/' are <see cref="SlashCommands"/>.</summary>
internal static class ChatCommand
{
    public static Command Create(ClusterOptions cluster)
    {
        var conversation = ConversationArgument.Create(required: false, "The conversation to resume (a new one when unset)");
        var generation = new GenerationArguments();
        var command = new Command("chat", "Chat interactively, replies streamed; /help lists the chat's commands") { conversation };
        generation.AddTo(command);
        command.SetAction((result, cancellationToken) => ClusterSession.RunAsync(result, cluster, (session, ct) =>
            RunAsync(session, result.GetValue(conversation) ?? Guid.NewGuid().ToString("N"), generation.Read(result), ct), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(ClusterSession session, string conversation, GenerationOptions options, CancellationToken cancellationToken)
    {
        var slash = new SlashCommands(session.Conversations, conversation);
        var interactive = !Console.IsInputRedirected;
        var failed = false;
        Console.WriteLine($"conversation {conversation} (/help lists the commands; an empty line, /exit or Ctrl-D ends)");
        while (true)
        {
            if (interactive)
            {
                Console.Write("> ");
            }

            var line = await ReadLineAsync(cancellationToken);
            if (string.IsNullOrWhiteSpace(line))
            {
                break;
            }

            try
            {
                if (line.StartsWith('/'))
                {
                    if (!await slash.RunAsync(line.Trim(), cancellationToken))
                    {
                        break;
                    }
                }
                else
                {
                    await Output.StreamReplyAsync(session.Conversations, conversation, line, options, cancellationToken);
                }
            }
            catch (ConversationException ex)
            {
                // A refused turn (too long, busy, overloaded) ends neither the chat nor its conversation; the exit code still says so.
                Console.Out.Flush();
                Console.Error.WriteLine($"autoglm: {ErrorText.Describe(ex)}");
                failed = true;
            }
        }

        return failed ? ExitCodes.Failure : ExitCodes.Success;
    }

    /// <summary>
    /// A line of stdin that Ctrl-C can interrupt: Console's reader blocks its thread and ignores the token, so the read
    /// runs on the pool and the wait is what gets cancelled.
    /// </summary>
    private static Task<string?> ReadLineAsync(CancellationToken cancellationToken) =>
        Task.Run(Console.ReadLine, CancellationToken.None).WaitAsync(cancellationToken);
}
