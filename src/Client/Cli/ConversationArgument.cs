using System.CommandLine;

namespace AutoGlm.Orleans.Cli;

/// <summary>The --conversation option, required by the commands that name an existing conversation.</summary>
internal static class ConversationArgument
{
    public static Option<string> Create(bool required, string description) => new("--conversation", "-c")
    {
        Description = description,
        HelpName = "ID",
        Required = required,
    };
}
