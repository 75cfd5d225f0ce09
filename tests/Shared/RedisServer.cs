using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace AutoGlm.Orleans.Testing;

/// <summary>
/// A real redis-server on a free loopback port, in a temporary directory of its own. Without persistence by
/// default; with <see cref="AppendOnly"/> it keeps an append-only file there, so <see cref="StopAsync"/> then
/// <see cref="StartAsync"/> is a real restart that keeps (or, killed, may lose) data. Killed by pid on dispose.
/// </summary>
public sealed class RedisServer : IAsyncLifetime
{
    private Process? _process;

    /// <summary>Keep an append-only file (AOF); set before <see cref="InitializeAsync"/>.</summary>
    public bool AppendOnly { get; init; }

    /// <summary>appendfsync with <see cref="AppendOnly"/>: "everysec" (at most ~1 s lost on a crash) or "always" (nothing lost).</summary>
    public string AppendFsync { get; init; } = "everysec";

    /// <summary>requirepass: clients must AUTH (the connection string carries it); set before <see cref="InitializeAsync"/>.</summary>
    public string? Password { get; init; }

    public int Port { get; private set; }

    public string DataDirectory { get; private set; } = string.Empty;

    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false" + (Password is null ? string.Empty : $",password={Password}");

    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    public async ValueTask InitializeAsync()
    {
        Port = FreePort();
        DataDirectory = Directory.CreateTempSubdirectory("autoglm-redis-").FullName;
        await StartAsync();
    }

    /// <summary>Starts redis-server on <see cref="Port"/> over <see cref="DataDirectory"/> and waits until it answers PING.</summary>
    public async Task StartAsync()
    {
        var executable = File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : "redis-server";
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
        };
        string[] args =
        [
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", DataDirectory,
            "--save", "", "--appendonly", AppendOnly ? "yes" : "no", "--appendfsync", AppendFsync,
            .. Password is null ? Array.Empty<string>() : ["--requirepass", Password],
        ];
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await WaitForPingAsync(_process);
    }

    /// <summary>Stops redis-server: SIGTERM (it writes its append-only file and exits) or SIGKILL (a crash).</summary>
    public async Task StopAsync(bool kill = false)
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        if (kill)
        {
            process.Kill();
        }
        else
        {
            Signals.Terminate(process.Id);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(timeout.Token);
        process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }

        await Task.CompletedTask;
    }

    private async Task WaitForPingAsync(Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                await using var stream = client.GetStream();
                // With a password, PING alone answers "-NOAUTH": authenticate first (its "+OK" precedes the PONG).
                var ping = Password is null ? "PING\r\n" : $"AUTH {Password}\r\nPING\r\n";
                await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(ping));
                var authenticated = Password is null || (await ReadLineAsync(stream)).StartsWith('+');
                // "+PONG" once the data is loaded; "-LOADING" while an append-only file is read back.
                if ((await ReadLineAsync(stream)).StartsWith('+') && authenticated)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException && DateTime.UtcNow < deadline && !process.HasExited)
            {
            }

            if (process.HasExited || DateTime.UtcNow >= deadline)
            {
                throw new InvalidOperationException($"redis-server did not start on port {Port}");
            }

            await Task.Delay(50);
        }
    }

    private static async Task<string> ReadLineAsync(NetworkStream stream)
    {
        var line = new System.Text.StringBuilder();
        var one = new byte[1];
        while (await stream.ReadAsync(one) == 1 && one[0] != (byte)'\n')
        {
            line.Append((char)one[0]);
        }

        return line.ToString();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
