namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>
/// A fresh temp folder for one run (logs, Redis data) and a tag unique to the run: every child's command line carries
/// it (cluster id, data path), which is how the <see cref="ProcessGuard"/> recognises its own processes.
/// </summary>
public sealed class RunDirectory : IDisposable
{
    private RunDirectory(string tag, string path)
    {
        Tag = tag;
        Path = path;
        Guard = new ProcessGuard(File("pids"), tag);
    }

    public string Tag { get; }

    public string Path { get; }

    public ProcessGuard Guard { get; }

    public static RunDirectory Create(string prefix)
    {
        var tag = prefix + "-" + Guid.NewGuid().ToString("N")[..10];
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "autoglm-fault", tag);
        Directory.CreateDirectory(path);
        return new RunDirectory(tag, path);
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Folder(string name)
    {
        var path = File(name);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Copies the logs out (before <see cref="Dispose"/> deletes the folder), for a failed run.</summary>
    public void CopyLogsTo(string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var log in Directory.EnumerateFiles(Path, "*.log"))
        {
            System.IO.File.Copy(log, System.IO.Path.Combine(destination, System.IO.Path.GetFileName(log)), overwrite: true);
        }
    }

    public void Dispose()
    {
        Guard.Dispose();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A child's last write raced the delete; the folder is in the temp dir anyway.
        }
    }
}
