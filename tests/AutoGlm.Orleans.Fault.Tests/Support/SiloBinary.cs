namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// The built silo: <c>src/Silo/bin/&lt;Configuration&gt;/net10.0/linux-x64/AutoGlm.Orleans.Silo.dll</c>, in the configuration
/// this test assembly was built in (read from its own output path: Release under ./test.sh).
/// </summary>
public static class SiloBinary
{
    public const string AssemblyName = "AutoGlm.Orleans.Silo.dll";

    public static string Configuration
    {
        get
        {
            var parts = AppContext.BaseDirectory.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
            var bin = Array.LastIndexOf(parts, "bin");
            if (bin >= 0 && bin + 1 < parts.Length)
            {
                return parts[bin + 1];
            }
#if DEBUG
            return "Debug";
#else
            return "Release";
#endif
        }
    }

    public static string Locate()
    {
        var path = Path.Combine(RepositoryPaths.Root, "src", "Silo", "bin", Configuration, "net10.0", "linux-x64", AssemblyName);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException(
                $"the silo is not built in {Configuration}: run `dotnet build AutoGlm.Orleans.sln -c {Configuration}` first", path);
    }
}
