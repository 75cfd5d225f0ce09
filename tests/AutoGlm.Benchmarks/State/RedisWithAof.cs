using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Benchmarks.State;

/// <summary>A throwaway redis-server with an append-only file, on a free port in a temporary folder.</summary>
internal sealed class RedisWithAof : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _folder;

    private RedisWithAof(Process process, string folder, int port)
    {
        _process = process;
        _folder = folder;
        ConnectionString = $"127.0.0.1:{port},abortConnect=false";
    }

    public string ConnectionString { get; }

    public static async Task<RedisWithAof> StartAsync()
    {
        var folder = Directory.CreateTempSubdirectory("autoglm-bench-redis-").FullName;
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var start = new ProcessStartInfo("redis-server") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var arg in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", folder, "--save", "",
                     "--appendonly", "yes", "--appendfsync", "everysec" })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start redis-server");
        _ = process.StandardOutput.ReadToEndAsync();
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port},connectTimeout=200");
                if (probe.IsConnected)
                {
                    break;
                }
            }
            catch (RedisConnectionException)
            {
            }

            await Task.Delay(100);
        }

        return new RedisWithAof(process, folder, port);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
