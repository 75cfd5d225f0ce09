using System.Diagnostics;
using System.Text.Json;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// A system that must run in its own process: ortgenai, whose package brings the CPU ONNX Runtime, which may not
/// meet the CUDA one this process loads. The tokenized workload goes to the child as a JSON file; the child plays
/// it with the same <see cref="MultiTurnDriver"/> and sends back its turn records, which are summarized here like
/// every other system's. The child's stderr (its progress display) passes through.
/// </summary>
public sealed class ChildProcessRunner(string name, string childAssembly, string modelPath, int intraOpThreads) : ISystemRunner
{
    private readonly List<string> _notes = [];

    public string Name => name;

    public IReadOnlyList<string> Notes => _notes;

    public async Task<IReadOnlyList<RunResult>> RunAsync(Workload workload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workload);
        var folder = Directory.CreateTempSubdirectory("autoglm-bench-");
        try
        {
            var requestPath = Path.Combine(folder.FullName, "request.json");
            var responsePath = Path.Combine(folder.FullName, "response.json");
            var request = new ChildRequest(Path.GetFullPath(modelPath), workload.ContextLength, intraOpThreads,
                workload.Options.Concurrencies, workload.Conversations);
            await File.WriteAllTextAsync(requestPath, JsonSerializer.Serialize(request, ChildJson.Options), cancellationToken)
                .ConfigureAwait(false);

            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
            start.ArgumentList.Add(childAssembly);
            start.ArgumentList.Add(requestPath);
            start.ArgumentList.Add(responsePath);
            using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {childAssembly}");
            // The child writes nothing of value on stdout; drain it so it never blocks on a full pipe.
            var stdout = child.StandardOutput.ReadToEndAsync(cancellationToken);
            try
            {
                await child.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                child.Kill(entireProcessTree: true);
                throw;
            }

            await stdout.ConfigureAwait(false);
            if (!File.Exists(responsePath))
            {
                throw new InvalidOperationException($"{name}: the child process exited with {child.ExitCode} and wrote no result");
            }

            var response = JsonSerializer.Deserialize<ChildResponse>(
                await File.ReadAllTextAsync(responsePath, cancellationToken).ConfigureAwait(false), ChildJson.Options)
                ?? throw new InvalidDataException($"{name}: empty result from the child process");
            _notes.AddRange(response.Notes);
            if (response.Error is not null)
            {
                throw new InvalidOperationException($"{name}: {response.Error}");
            }

            return response.Runs;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The child's built assembly: next to the sources, in the same configuration as this process, or in any
    /// configuration that was built. Null when it was never built.
    /// </summary>
    public static string? Locate(string repositoryRoot, string projectName)
    {
        var bin = Path.Combine(repositoryRoot, "tests", projectName, "bin");
        if (!Directory.Exists(bin))
        {
            return null;
        }

#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        return Directory.EnumerateFiles(bin, projectName + ".dll", SearchOption.AllDirectories)
            .OrderByDescending(path => path.Contains(Path.DirectorySeparatorChar + configuration + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .ThenByDescending(File.GetLastWriteTimeUtc)
            .FirstOrDefault();
    }
}
