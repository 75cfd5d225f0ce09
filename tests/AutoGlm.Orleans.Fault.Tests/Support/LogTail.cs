namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>The last lines of a log file that another writer may still append to.</summary>
public static class LogTail
{
    public static string Read(string path, int lines)
    {
        if (!File.Exists(path))
        {
            return $"(no log at {path})";
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var tail = new Queue<string>(lines + 1);
        while (reader.ReadLine() is { } line)
        {
            tail.Enqueue(line.Length > 400 ? line[..400] + " …" : line);
            if (tail.Count > lines)
            {
                tail.Dequeue();
            }
        }

        return string.Join(Environment.NewLine, tail);
    }
}
