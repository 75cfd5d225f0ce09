using System.Diagnostics;
using System.Runtime.InteropServices;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>What one run of the CLI did.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Lines(Stderr);

    public string[] StdoutLines => Lines(Stdout);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>
/// The built autoglm CLI (src/Client/Cli, same configuration as the tests), run as its own process with
/// <c>dotnet autoglm.dll</c>: its parser, its exit codes and its output are what a user gets.
/// </summary>
public static class CliProcess
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    private static readonly Lazy<string> DllPath = new(Locate);

    public static string Dll => DllPath.Value;

    /// <summary>The arguments that point the CLI at <paramref name="server"/>'s gateway.</summary>
    public static string[] Gateway(SiloServer server) =>
        ["--gateway-port", server.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "--cluster-id", server.ClusterId, "--service-id", server.ClusterId];

    public static async Task<CliResult> RunAsync(IEnumerable<string> arguments, string? stdin = null, CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The CLI reads these; the machine running the tests must not point it elsewhere.
        foreach (var variable in new[] { "AUTOGLM_REDIS", "AUTOGLM_API_KEY", "AUTOGLM_TLS_CERTIFICATE", "AUTOGLM_TLS_PASSWORD" })
        {
            start.Environment.Remove(variable);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("the CLI did not start");
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken);
        }

        process.StandardInput.Close();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"autoglm {string.Join(' ', start.ArgumentList.Skip(1))} ran past {Timeout}:\n{await stdout}\n{await stderr}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>The dotnet host of the runtime running the tests (so no PATH lookup decides which one).</summary>
    private static string DotnetHost()
    {
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var host = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(host) ? host : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
    }

    private static string Locate()
    {
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        // The test's output folder is bin/{configuration}/{tfm}/{rid}/; the CLI's mirrors it under src/Client/Cli.
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(RepositoryPaths.Root, "src", "Client", "Cli", "bin", configuration, output.Parent!.Name, output.Name, "autoglm.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException($"the CLI is not built at {path} (build the solution first)", path);
    }
}
