// Writes the tiktoken ranks that a Microsoft.ML.Tokenizers.Data package embeds (r50k_base by default, or
// cl100k_base), so the Python pipeline tokenizes with exactly the vocabulary the .NET engine serves with and the
// tokenizer fixtures are derived from real vocabularies (no download needed).
using System.IO.Compression;
using System.Reflection;

if (args.Length is not (1 or 2) || (args.Length == 2 && args[1] is not ("r50k_base" or "cl100k_base")))
{
    Console.Error.WriteLine("usage: DumpRanks <output .tiktoken file> [r50k_base|cl100k_base]");
    return 2;
}

var encoding = args.Length == 2 ? args[1] : "r50k_base";
var (assemblyName, resourceName) = encoding == "cl100k_base"
    ? ("Microsoft.ML.Tokenizers.Data.Cl100kBase", "cl100k_base.tiktoken.deflate")
    : ("Microsoft.ML.Tokenizers.Data.R50kBase", "r50k_base.tiktoken.deflate");
var assembly = Assembly.Load(assemblyName);
using var compressed = assembly.GetManifestResourceStream(resourceName)
    ?? throw new InvalidOperationException($"resource {resourceName} not found in {assemblyName} (has: {string.Join(", ", assembly.GetManifestResourceNames())})");
using var inflated = new DeflateStream(compressed, CompressionMode.Decompress);
using var output = File.Create(args[0]);
inflated.CopyTo(output);
Console.WriteLine($"wrote {output.Length} bytes to {args[0]}");
return 0;
