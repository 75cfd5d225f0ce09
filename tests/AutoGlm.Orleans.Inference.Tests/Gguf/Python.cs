using System.Diagnostics;

namespace AutoGlm.Orleans.Inference.Tests.Gguf;

/// <summary>
/// Debian's python3 (the one test.sh installs numpy and jinja2 for), run to completion within a time limit; killed
/// by its pid when it overruns or the test is cancelled, so no test leaves one behind.
/// </summary>
public static class Python
{
    public const string Interpreter = "/usr/bin/python3";

    public static async Task<string> RunAsync(IReadOnlyList<string> arguments, string? stdin, TimeSpan limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo(Interpreter)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryPaths.Root,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {Interpreter}");
        try
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            if (stdin is not null)
            {
                await process.StandardInput.WriteAsync(stdin.AsMemory(), cancellationToken);
            }

            process.StandardInput.Close();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(limit);
            await process.WaitForExitAsync(timeout.Token);
            var output = await stdout;
            if (process.ExitCode != 0)
            {
                // An inline script (-c) is named by its first line only.
                var what = arguments.Count > 1 && arguments[0] == "-c" ? "-c " + arguments[1].Split('\n')[0] : string.Join(' ', arguments.Take(1));
                throw new InvalidOperationException($"python3 {what} exited with {process.ExitCode}: {await stderr}");
            }

            return output;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None);
            }
        }
    }
}
