using System.CommandLine;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Cli;

/// <summary>status: every silo's engine as a table, or one conversation's placement and cache.</summary>
internal static class StatusCommand
{
    public static Command Create(ClusterOptions cluster)
    {
        var conversation = ConversationArgument.Create(required: false, "A conversation: its silo, tokens and cache instead of every silo's");
        var command = new Command("status", "Print every silo's load and KV cache (needs an admin key on a cluster with keys), or one conversation's")
        {
            conversation,
        };
        command.SetAction((result, cancellationToken) => ClusterSession.RunAsync(result, cluster, async (session, ct) =>
        {
            if (result.GetValue(conversation) is { } id)
            {
                var status = await session.Conversations.GetStatusAsync(id).WaitAsync(ct);
                if (!status.Exists)
                {
                    throw new ConversationNotFoundException($"conversation '{id}' does not exist");
                }

                Console.Write(StatusFormat.Conversation(status));
            }
            else
            {
                Console.Write(StatusFormat.Table(await session.Conversations.GetClusterStatsAsync().WaitAsync(ct)));
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }
}
