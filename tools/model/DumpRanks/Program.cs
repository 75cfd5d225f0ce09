// Writes the r50k_base ranks that Microsoft.ML.Tokenizers.Data.R50kBase embeds, so the Python training
// pipeline tokenizes with exactly the vocabulary the .NET engine serves with (no download needed).
using System.IO.Compression;
using System.Reflection;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: DumpRanks <output .tiktoken file>");
    return 2;
}

var assembly = Assembly.Load("Microsoft.ML.Tokenizers.Data.R50kBase");
const string resourceName = "r50k_base.tiktoken.deflate";
using var compressed = assembly.GetManifestResourceStream(resourceName)
    ?? throw new InvalidOperationException($"resource {resourceName} not found");
using var inflated = new DeflateStream(compressed, CompressionMode.Decompress);
using var output = File.Create(args[0]);
inflated.CopyTo(output);
Console.WriteLine($"wrote {output.Length} bytes to {args[0]}");
return 0;
