using System.CommandLine;
using System.CommandLine.Parsing;
using AutoGlm.Orleans.Cli;

// autoglm: chat | send | history | status, against a localhost silo or a Redis-clustered cluster.
var cluster = new ClusterOptions();
var root = new RootCommand("autoglm: chat with an AutoGlm.Orleans cluster, and see where its conversations and caches live")
{
    ChatCommand.Create(cluster),
    SendCommand.Create(cluster),
    HistoryCommand.Create(cluster),
    StatusCommand.Create(cluster),
};
cluster.AddTo(root);

var result = root.Parse(args);

// A bad command line is one line and exit 2, not System.CommandLine's error list and help page (and its exit 1,
// which this CLI keeps for a request the cluster refused). --help and --version clear the errors of what they come with.
var error = result.Action is { ClearsParseErrors: true } ? null
    : result.Errors.Count > 0 ? result.Errors[0].Message
    : UnknownOption(result);
if (error is not null)
{
    var command = result.CommandResult.Command is RootCommand ? "autoglm" : "autoglm " + result.CommandResult.Command.Name;
    Console.Error.WriteLine($"autoglm: {ErrorText.OneLine(error)} (see '{command} --help')");
    return ExitCodes.Usage;
}

// Actions catch their own failures (ClusterSession.RunAsync): the default handler would print a stack trace.
return await result.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });

// send's message takes any word, so an unknown option ("--bogus") would quietly become part of it; a word that
// looks like an option counts as one unless it follows "--".
static string? UnknownOption(ParseResult result)
{
    var separator = result.Tokens.ToList().FindIndex(t => t.Type == TokenType.DoubleDash);
    var word = result.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens)
        .FirstOrDefault(t => t.Value.Length > 1 && t.Value[0] == '-' && !char.IsAsciiDigit(t.Value[1])
            && (separator < 0 || result.Tokens.ToList().FindIndex(u => ReferenceEquals(u, t)) < separator));
    return word is null ? null : $"unknown option '{word.Value}' (a message word that starts with '-' goes after '--')";
}
