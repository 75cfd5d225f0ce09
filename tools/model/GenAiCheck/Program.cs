// Loads each family fixture's gqa/ folder (genai_config.json, as onnxruntime-genai's model builder writes it) in ONNX
// Runtime GenAI and checks its greedy tokens against torch's (reference.json) for every reference prompt, up to and
// including the first end-of-turn id, where GenAI stops. Exits 1 on any difference.
using System.Text.Json;
using Microsoft.ML.OnnxRuntimeGenAI;

var root = args.Length == 1 ? args[0] : "tests/fixtures/families";
if (!Directory.Exists(root))
{
    Console.Error.WriteLine($"usage: GenAiCheck [folder of family fixtures] ({root} not found)");
    return 2;
}

var failures = 0;
foreach (var family in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
{
    var referencePath = Path.Combine(family, "reference.json");
    var gqa = Path.Combine(family, "gqa");
    if (!File.Exists(referencePath) || !Directory.Exists(gqa))
    {
        continue;
    }

    using var reference = JsonDocument.Parse(File.ReadAllBytes(referencePath));
    var stops = Ids(reference.RootElement.GetProperty("end_of_turn_ids")).ToHashSet();
    using var model = new Model(gqa);
    var agree = 0;
    var cases = reference.RootElement.GetProperty("references").EnumerateArray().ToList();
    foreach (var r in cases)
    {
        var prompt = Ids(r.GetProperty("prompt_ids"));
        var greedy = Ids(r.GetProperty("greedy_ids"));
        var end = Array.FindIndex(greedy, stops.Contains);
        var expected = end < 0 ? greedy : greedy[..(end + 1)];
        using var parameters = new GeneratorParams(model);
        parameters.SetSearchOption("max_length", prompt.Length + greedy.Length);
        using var generator = new Generator(model, parameters);
        generator.AppendTokens(prompt);
        var generated = new List<int>();
        while (generated.Count < greedy.Length && !generator.IsDone())
        {
            generator.GenerateNextToken();
            generated.Add(generator.GetNextTokens()[0]);
        }

        if (generated.SequenceEqual(expected))
        {
            agree++;
        }
        else
        {
            Console.WriteLine($"{Path.GetFileName(family)}: GenAI [{string.Join(",", generated)}] vs torch [{string.Join(",", expected)}]");
        }
    }

    Console.WriteLine($"{Path.GetFileName(family)}: ONNX Runtime GenAI's greedy tokens = torch's on {agree}/{cases.Count} prompts");
    failures += cases.Count - agree;
}

return failures == 0 ? 0 : 1;

static int[] Ids(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetInt32())];
