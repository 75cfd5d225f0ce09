using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks.State;

/// <summary>`state [--json FILE] [--turns N] [--repeats N]`: what a turn writes to Redis, and how fast bad input is refused.</summary>
internal static class StateCommand
{
    public const string Usage = "state [--json FILE] [--turns N] [--repeats N] [--model DIR]";

    public static async Task<int> RunAsync(string[] args, string defaultModel)
    {
        string? json = null;
        var model = defaultModel;
        var turns = 50;
        var repeats = 20;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = args[++i]; break;
                case "--model": model = args[++i]; break;
                case "--turns": turns = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }

        var result = new JsonObject
        {
            ["machine"] = new JsonObject { ["cores"] = Environment.ProcessorCount, ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription },
            ["storage_per_turn"] = await StorageWriteBenchmark.RunAsync(model, turns),
            ["refusals"] = await RefusalBenchmark.RunAsync(model, repeats),
        };
        var text = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(text);
        if (json is not null)
        {
            await File.WriteAllTextAsync(json, text);
        }

        return 0;
    }
}
