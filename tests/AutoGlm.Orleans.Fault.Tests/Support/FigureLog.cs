namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>Figures a fault test measured, one line each, in fault-figures.txt beside the test assembly (and the test output).</summary>
internal static class FigureLog
{
    private static readonly object Lock = new();

    public static void Write(string line)
    {
        TestContext.Current.TestOutputHelper?.WriteLine(line);
        lock (Lock)
        {
            File.AppendAllText(Path.Combine(AppContext.BaseDirectory, "fault-figures.txt"), $"{DateTimeOffset.UtcNow:u} {line}{Environment.NewLine}");
        }
    }
}
