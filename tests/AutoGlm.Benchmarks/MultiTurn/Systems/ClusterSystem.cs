using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Grains;
using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// This system as users run it: real Orleans silos (localhost clustering, in-memory conversation storage, each
/// with its own engine) and a real Orleans client calling the conversation grains through the client library.
/// The silos live in this process on loopback ports; every call still crosses the client-gateway connection.
/// </summary>
public sealed class ClusterSystem : IChatSystem, IProfiledSystem
{
    private readonly List<IHost> _silos = [];
    private readonly IHost _client;
    private readonly ConversationClient _conversations;
    private (double Forward, double Emit, long Steps) _profileStart;

    private ClusterSystem(List<IHost> silos, IHost client)
    {
        _silos = silos;
        _client = client;
        _conversations = new ConversationClient(client.Services.GetRequiredService<IGrainFactory>());
    }

    public static async Task<ClusterSystem> StartAsync(string modelPath, int silos, int intraOpThreads, CancellationToken cancellationToken,
        TimeSpan? chunkWindow = null, string? modelVariant = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(silos);
        var siloPorts = Enumerable.Range(0, silos).Select(_ => FreePort()).ToArray();
        var gatewayPorts = Enumerable.Range(0, silos).Select(_ => FreePort()).ToArray();
        var primary = new IPEndPoint(IPAddress.Loopback, siloPorts[0]);
        var clusterId = "bench-" + Guid.NewGuid().ToString("N")[..8];
        var hosts = new List<IHost>();
        // One store for every in-process silo, as Redis would be: a conversation that moves finds its history.
        var storage = new ConversationOptions();
        var store = new MemoryConversationStore(storage, TimeProvider.System);
        var index = new MemoryConversationIndexStore(storage, TimeProvider.System);
        for (var i = 0; i < silos; i++)
        {
            var siloPort = siloPorts[i];
            var gatewayPort = gatewayPorts[i];
            var host = Host.CreateDefaultBuilder()
                .ConfigureLogging(l => l.SetMinimumLevel(LogLevel.Warning))
                .UseOrleans(silo =>
                {
                    silo.UseLocalhostClustering(siloPort, gatewayPort, primary, serviceId: clusterId, clusterId: clusterId);
                    silo.Services.AddSingleton<IConversationStore>(store);
                    silo.Services.AddSingleton<IConversationIndexStore>(index);
                    silo.AddAutoGlmMemoryStorage();
                    if (chunkWindow is { } window)
                    {
                        silo.Services.Configure<ConversationOptions>(o => o.ChunkWindow = window);
                    }

                    silo.AddAutoGlmGrains(_ => new EngineOptions
                    {
                        ModelPath = modelPath,
                        ModelVariant = modelVariant,
                        // AUTOGLM_BENCH_SPINNING=Off|WithinRun|Always: another spinning policy than the engine's default
                        // for ONNX Runtime's intra-op threads, to tell its share apart from the grain path's.
                        IntraOpSpinning = Environment.GetEnvironmentVariable("AUTOGLM_BENCH_SPINNING") is { Length: > 0 } policy
                            ? Enum.Parse<IntraOpSpinning>(policy, ignoreCase: true)
                            : EngineOptions.DefaultIntraOpSpinning,
                        // AUTOGLM_BENCH_SPIN_US=N: another spin duration (microseconds; 0: ONNX Runtime's own count).
                        IntraOpSpinDuration = Environment.GetEnvironmentVariable("AUTOGLM_BENCH_SPIN_US") is { Length: > 0 } us
                            ? TimeSpan.FromMicroseconds(double.Parse(us, System.Globalization.CultureInfo.InvariantCulture))
                            : EngineOptions.DefaultIntraOpSpinDuration,
                        IntraOpThreads = intraOpThreads,
                        MaxBatchSize = 32,
                        MaxTokensPerStep = 512,
                    });
                })
                .Build();
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            hosts.Add(host);
        }

        var client = Host.CreateDefaultBuilder()
            .ConfigureLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .UseOrleansClient(c => c.UseLocalhostClustering(gatewayPorts, serviceId: clusterId, clusterId: clusterId))
            .Build();
        await client.StartAsync(cancellationToken).ConfigureAwait(false);
        return new ClusterSystem(hosts, client);
    }

    public async IAsyncEnumerable<TurnChunk> SendAsync(string conversationId, ChatTurn turn,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        var options = new GenerationOptions { Temperature = 0f, MaxNewTokens = turn.ReplyTokens, IgnoreEndOfTurn = true };
        await foreach (var chunk in _conversations.SendStreamingAsync(conversationId, turn.UserText, options, cancellationToken: cancellationToken)
            .ConfigureAwait(false))
        {
            var tokens = chunk.TokenIds?.Count ?? 0;
            if (chunk.Usage is { } usage)
            {
                yield return new TurnChunk(tokens, new TurnUsage(usage.PromptTokens, usage.CachedTokens, usage.CompletionTokens));
            }
            else if (tokens > 0)
            {
                yield return new TurnChunk(tokens);
            }
        }
    }

    public void BeginProfile() => _profileStart = EngineTotals();

    public string Profile(RunResult run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var (forward, emit, steps) = EngineTotals();
        forward -= _profileStart.Forward;
        emit -= _profileStart.Emit;
        steps -= _profileStart.Steps;
        var turns = run.Turns.Where(t => t.Error is null).ToArray();
        // The decode phase as the client saw it: each reply from its first token to its last.
        var decodeWallMs = turns.Sum(t => t.E2eMs - t.TtftMs);
        var decodeTokens = Math.Max(1, turns.Sum(t => t.OutputTokens - 1));
        var perToken = decodeWallMs / decodeTokens;
        var rows = (double)decodeTokens / Math.Max(1, steps);
        return FormattableString.Invariant(
            $"profile c={run.Concurrency}: client-side decode {perToken:F3} ms/token per stream; engine decode forward {forward * 1000 / Math.Max(1, steps):F3} ms/step, engine sampling and emission {emit * 1000 / Math.Max(1, steps):F3} ms/step, {steps} steps, ~{rows:F1} tokens per step; at c=1 what the client waits per token beyond the engine's forward and emission is the grain path (hand-offs, grain and gateway round trips, client): {perToken - (forward + emit) * 1000 / Math.Max(1, steps):F3} ms");
    }

    private (double Forward, double Emit, long Steps) EngineTotals()
    {
        double forward = 0, emit = 0;
        long steps = 0;
        foreach (var silo in _silos)
        {
            var stats = silo.Services.GetRequiredService<InferenceEngine>().GetStats();
            forward += stats.DecodeForwardSeconds;
            emit += stats.DecodeEmitSeconds;
            steps += stats.Steps;
        }

        return (forward, emit, steps);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _client.StopAsync().ConfigureAwait(false);
        _client.Dispose();
        foreach (var silo in Enumerable.Reverse(_silos))
        {
            await silo.StopAsync().ConfigureAwait(false);
            silo.Dispose();
        }
    }
}
