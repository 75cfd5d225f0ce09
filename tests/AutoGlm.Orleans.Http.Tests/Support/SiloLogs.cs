using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Http.Tests.Support;

/// <summary>
/// Where the in-process silos and clients of this project log: one file per test run, <see cref="Path"/> (under the
/// test output folder, rewritten by each run), each line naming the host that wrote it. Not the console: the expected
/// warnings (handshakes TransportSecurityTests refuses on purpose, "No API keys", ServerGC notes) would fill the test
/// run's output and push a failure's message out of sight. The level stays the hosts' own (Warning and up).
/// </summary>
public static class SiloLogs
{
    /// <summary>The silo arguments that silence the console logger (the file takes its place once the host is built).</summary>
    public static readonly string[] QuietConsole = ["--Logging:Console:LogLevel:Default", "None"];

    private static readonly Lazy<StreamWriter> Writer = new(Open);

    public static string Path { get; } = System.IO.Path.Combine(AppContext.BaseDirectory, "TestResults", "silo-logs.txt");

    /// <summary>Adds the file to a built host's logging; <paramref name="host"/> names its lines.</summary>
    public static void AddTo(IServiceProvider services, string host) =>
        services.GetRequiredService<ILoggerFactory>().AddProvider(new Provider(host));

    /// <summary>Logging for a client host being built: the file only, Warning and up.</summary>
    public static void Configure(ILoggingBuilder logging, string host)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddProvider(new Provider(host));
    }

    private static StreamWriter Open()
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var stream = new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite);
        return new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true };
    }

    private static void Write(string line)
    {
        var writer = Writer.Value;
        lock (writer)
        {
            writer.WriteLine(line);
        }
    }

    private sealed class Provider(string host) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new FileLogger(host, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class FileLogger(string host, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = string.Create(CultureInfo.InvariantCulture,
                $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} [{host}] {category}[{eventId.Id}]: {formatter(state, exception)}");
            Write(exception is null ? line : line + Environment.NewLine + "    " + exception.ToString().Replace("\n", "\n    ", StringComparison.Ordinal));
        }
    }
}
