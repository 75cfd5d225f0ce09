using System.CommandLine;

namespace AutoGlm.Orleans.Cli;

/// <summary>send: one turn, its reply streamed to stdout.</summary>
internal static class SendCommand
{
    public static Command Create(ClusterOptions cluster)
    {
        var conversation = ConversationArgument.Create(required: true, "The conversation to send to (created when new)");
        var message = new Argument<string[]>("message")
        {
            Description = "The message (the words are joined with spaces)",
            Arity = ArgumentArity.OneOrMore,
        };
        var generation = new GenerationArguments();
        var command = new Command("send", "Send one message and stream the reply to stdout (the token accounting goes to stderr)")
        {
            conversation,
            message,
        };
        generation.AddTo(command);
        command.SetAction((result, cancellationToken) => ClusterSession.RunAsync(result, cluster, async (session, ct) =>
        {
            await Output.StreamReplyAsync(session.Conversations, result.GetRequiredValue(conversation),
                string.Join(' ', result.GetRequiredValue(message)), generation.Read(result), ct);
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }
}
