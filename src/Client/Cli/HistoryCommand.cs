using System.CommandLine;

namespace AutoGlm.Orleans.Cli;

/// <summary>history: the stored messages, one "[role] content" line each.</summary>
internal static class HistoryCommand
{
    public static Command Create(ClusterOptions cluster)
    {
        var conversation = ConversationArgument.Create(required: true, "The conversation whose messages to print");
        var command = new Command("history", "Print a conversation's stored messages, system prompt first") { conversation };
        command.SetAction((result, cancellationToken) => ClusterSession.RunAsync(result, cluster, async (session, ct) =>
        {
            Output.WriteHistory(await Output.ExistingHistoryAsync(session.Conversations, result.GetRequiredValue(conversation), ct));
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }
}
