using System.CommandLine;
using AutoGlm.Orleans.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Cli;

/// <summary>A connected Orleans client for one command, and the rule that turns its failures into one line and an exit code.</summary>
internal sealed class ClusterSession : IAsyncDisposable
{
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ConnectRetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly IHost _host;

    private ClusterSession(IHost host)
    {
        _host = host;
        Conversations = host.Services.GetRequiredService<ConversationClient>();
    }

    public ConversationClient Conversations { get; }

    /// <summary>
    /// Connects, runs <paramref name="body"/>, and maps what fails: exit 1 with one line on stderr for anything the
    /// cluster (or reaching it) refuses, 130 for Ctrl-C. Nothing escapes, so no stack trace reaches the user.
    /// </summary>
    public static async Task<int> RunAsync(ParseResult result, ClusterOptions options,
        Func<ClusterSession, CancellationToken, Task<int>> body, CancellationToken cancellationToken)
    {
        try
        {
            await using var session = await ConnectAsync(result, options, cancellationToken);
            return await body(session, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Console.WriteLine();
            Console.Error.WriteLine("autoglm: cancelled");
            return ExitCodes.Cancelled;
        }
        catch (Exception ex)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"autoglm: {ErrorText.Describe(ex)}");
            return ExitCodes.Failure;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // A client whose gateway died can take long to stop; the command's work is done, so bound the wait.
        using var stop = new CancellationTokenSource(StopTimeout);
        try
        {
            await _host.StopAsync(stop.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException || ConversationClient.IsInterruption(ex))
        {
            // Nothing left to release on a cluster we cannot reach.
        }

        _host.Dispose();
    }

    private static async Task<ClusterSession> ConnectAsync(ParseResult result, ClusterOptions options, CancellationToken cancellationToken)
    {
        // An empty builder: a CLI must not pick up an appsettings.json from whatever folder it is run in.
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        if (result.GetValue(options.Verbose))
        {
            builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
        }

        // Ctrl-C belongs to System.CommandLine (it cancels the command's token); the host must not claim it too.
        builder.Services.AddSingleton<IHostLifetime, NoLifetime>();
        builder.AddAutoGlmClient(o => options.Apply(result, o));

        // A silo that is still starting refuses the first attempts: keep trying until the connect timeout.
        builder.Services.AddSingleton<IClientConnectionRetryFilter, RetryUntilCancelled>();
        var timeout = TimeSpan.FromSeconds(result.GetValue(options.ConnectTimeout));
        var host = builder.Build();
        try
        {
            // The Orleans client waits for a gateway without end; a CLI says "nobody there" instead.
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            connect.CancelAfter(timeout);
            await host.StartAsync(connect.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            throw new TimeoutException($"no silo answered within {timeout.TotalSeconds:0} s at {Where(result, options)}");
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new ClusterSession(host);
    }

    private static string Where(ParseResult result, ClusterOptions options)
    {
        var client = new AutoGlmClientOptions();
        options.Apply(result, client);
        return string.IsNullOrWhiteSpace(client.RedisConnectionString)
            ? $"gateway 127.0.0.1:{client.GatewayPort} (cluster '{client.ClusterId}')"
            : $"the gateways Redis lists (cluster '{client.ClusterId}')";
    }

    /// <summary>Retries a refused connection every half second; the connect timeout's token ends it.</summary>
    private sealed class RetryUntilCancelled : IClientConnectionRetryFilter
    {
        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            await Task.Delay(ConnectRetryDelay, cancellationToken);
            return true;
        }
    }

    /// <summary>A host lifetime that handles no signals.</summary>
    private sealed class NoLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
