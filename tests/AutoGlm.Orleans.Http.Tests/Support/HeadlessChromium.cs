using System.Diagnostics;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>
/// Runs Debian's chromium headless once per call (a screenshot, a DOM dump) with a profile of its own in a temp folder:
/// its config, cache and temp files go there too, so every process it starts (zygotes, renderers, the detached crash handler)
/// names that folder on its command line. Afterwards each such process still alive is killed by its pid, and the
/// folder is deleted.
/// </summary>
public static class HeadlessChromium
{
    private static readonly string[] Names = ["chromium", "chromium-browser"];

    /// <summary>The chromium executable on PATH (or CHROMIUM), or null when there is none.</summary>
    public static string? Find()
    {
        if (Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } configured && File.Exists(configured))
        {
            return configured;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(dir => Names.Select(name => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Saves a PNG of <paramref name="url"/> after 5 s of the page's (virtual) time.</summary>
    public static Task ScreenshotAsync(string chromium, Uri url, string png, CancellationToken cancellationToken) =>
        RunAsync(chromium, ["--screenshot=" + png, "--window-size=1280,900", "--virtual-time-budget=5000", url.ToString()], cancellationToken);

    /// <summary>The DOM of <paramref name="url"/> after 5 s of the page's (virtual) time.</summary>
    public static Task<string> DumpDomAsync(string chromium, Uri url, CancellationToken cancellationToken) =>
        RunAsync(chromium, ["--dump-dom", "--virtual-time-budget=5000", url.ToString()], cancellationToken);

    private static async Task<string> RunAsync(string chromium, string[] arguments, CancellationToken cancellationToken)
    {
        var home = Directory.CreateTempSubdirectory("autoglm-chromium-").FullName;
        var start = new ProcessStartInfo(chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["XDG_CONFIG_HOME"] = Path.Combine(home, "config");
        start.Environment["XDG_CACHE_HOME"] = Path.Combine(home, "cache");
        start.Environment["TMPDIR"] = home;
        foreach (var argument in (string[])
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-crash-reporter", "--user-data-dir=" + Path.Combine(home, "profile"),
                .. arguments,
            ])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{chromium} did not start");
        try
        {
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(90), cancellationToken);
            var text = await output;
            if (process.ExitCode != 0)
            {
                var tail = await errors;
                throw new InvalidOperationException($"chromium exited with {process.ExitCode}: {tail[Math.Max(0, tail.Length - 2000)..]}");
            }

            return text;
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            KillLeftovers(home);
            DeleteQuietly(home);
        }
    }

    /// <summary>Kills, by pid, every process whose command line names <paramref name="home"/>: only ones this run started.</summary>
    private static void KillLeftovers(string home)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(home, StringComparison.Ordinal))
                {
                    using var leftover = Process.GetProcessById(pid);
                    leftover.Kill();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException
                or System.ComponentModel.Win32Exception)
            {
                // Gone already, or not ours to read.
            }
        }
    }

    private static void DeleteQuietly(string folder)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                Directory.Delete(folder, recursive: true);
                return;
            }
            catch (DirectoryNotFoundException)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A process that just died may still be writing its profile.
                Thread.Sleep(200);
            }
        }
    }
}
