using System.CommandLine;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Cli;

/// <summary>The per-turn generation options of the commands that send turns (chat, send).</summary>
internal sealed class GenerationArguments
{
    public Option<int?> MaxTokens { get; } = new("--max-tokens")
    {
        Description = "Most tokens a reply may have (the conversation's default, then the engine's, when unset)",
        HelpName = "N",
        CustomParser = result => Parse.Int(result, min: 1, max: int.MaxValue),
    };

    public Option<float?> Temperature { get; } = new("--temperature")
    {
        Description = "Sampling temperature; 0 is greedy",
        HelpName = "T",
        CustomParser = result => Parse.Float(result, min: 0, max: 100),
    };

    public void AddTo(Command command)
    {
        command.Add(MaxTokens);
        command.Add(Temperature);
    }

    /// <summary>The options a turn sends; null fields fall back to the conversation's defaults on the server.</summary>
    public GenerationOptions Read(ParseResult result) => new()
    {
        MaxNewTokens = result.GetValue(MaxTokens),
        Temperature = result.GetValue(Temperature),
    };
}
