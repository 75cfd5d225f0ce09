namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// Where tools/llamacpp/build.sh leaves llama.cpp: work/build/bin/llama-server, built from the source that the pinned
/// node-llama-cpp ships, and work/gguf/&lt;model&gt;.&lt;quant&gt;.gguf, converted from our model folder by
/// tools/model/to_gguf.py. The benchmark never builds it; a system whose files are missing is reported as missing.
/// </summary>
public static class LlamaCppBuild
{
    public const string BuildCommand = "nice -n 15 tools/llamacpp/build.sh";

    /// <summary>The default folder: tools/llamacpp/work under the repository.</summary>
    public static string DefaultDirectory(string repositoryRoot) => Path.Combine(repositoryRoot, "tools", "llamacpp", "work");

    /// <summary>llama-server and the GGUF of <paramref name="modelName"/> in <paramref name="quant"/>, or why not.</summary>
    public static (string? Server, string? Gguf, string? Missing) Locate(string directory, string modelName, string quant)
    {
        var server = Path.Combine(directory, "build", "bin", "llama-server");
        var gguf = Path.Combine(directory, "gguf", $"{modelName}.{quant}.gguf");
        if (!File.Exists(server))
        {
            return (null, null, $"{server} is not built: {BuildCommand}");
        }

        return File.Exists(gguf) ? (server, gguf, null) : (null, null, $"{gguf} is not converted: {BuildCommand}");
    }

    /// <summary>The llama.cpp commit and where it came from, as build.sh recorded it (empty when it did not).</summary>
    public static string Describe(string directory)
    {
        var info = Path.Combine(directory, "llamacpp.info");
        return File.Exists(info) ? File.ReadAllText(info).Trim() : "";
    }
}
