using AutoGlm.Orleans.Benchmarks.State;

namespace AutoGlm.Orleans.Benchmarks.Drain;

/// <summary>
/// A cluster of real processes for a drain: one redis-server (membership and grain storage, AOF) and silo child
/// processes clustered through it under one cluster id unique to the run, logs in a temporary folder. Silos join
/// as the benchmark asks (<see cref="StartSiloAsync"/>). Disposal kills every silo and redis-server by pid and
/// deletes the folder; so does this process's own exit (SIGTERM, Ctrl-C) if it comes first.
/// </summary>
internal sealed class DrainCluster : IAsyncDisposable
{
    private readonly List<SiloChild> _silos = [];
    private readonly object _gate = new();
    private readonly RedisWithAof _redis;
    private readonly string _folder;
    private readonly string _siloDll;
    private readonly string _modelPath;
    private readonly string _clusterId = "drain-bench-" + Guid.NewGuid().ToString("N")[..10];
    private bool _disposed;

    private DrainCluster(RedisWithAof redis, string folder, string siloDll, string modelPath)
    {
        _redis = redis;
        _folder = folder;
        _siloDll = siloDll;
        _modelPath = modelPath;
        AppDomain.CurrentDomain.ProcessExit += OnExit;
        Console.CancelKeyPress += OnCancel;
    }

    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    public string LogFolder => _folder;

    public static async Task<DrainCluster> StartAsync(string modelPath)
    {
        var siloDll = LocateSilo();
        var folder = Directory.CreateTempSubdirectory("autoglm-drain-bench-").FullName;
        var redis = await RedisWithAof.StartAsync();
        return new DrainCluster(redis, folder, siloDll, Path.GetFullPath(modelPath));
    }

    /// <summary>Starts one more silo in the cluster, ready (its /healthz 200) on return.</summary>
    public async Task<SiloChild> StartSiloAsync(string name, params string[] extraArguments)
    {
        var silo = await SiloChild.StartAsync(name, _siloDll, _modelPath, _redis.ConnectionString, _clusterId, _folder, extraArguments, StartTimeout);
        lock (_gate)
        {
            if (_disposed)
            {
                silo.Dispose();
                throw new ObjectDisposedException(nameof(DrainCluster));
            }

            _silos.Add(silo);
        }

        Console.Error.WriteLine($"[drain] {name} up: pid {silo.Pid}, http {silo.HttpBase}, silo port {silo.SiloPort}");
        return silo;
    }

    /// <summary>Which of the cluster's silos an Orleans silo address names (null: none).</summary>
    public SiloChild? SiloOf(string? siloAddress)
    {
        lock (_gate)
        {
            return _silos.FirstOrDefault(s => s.Owns(siloAddress));
        }
    }

    public ValueTask DisposeAsync()
    {
        Shutdown();
        AppDomain.CurrentDomain.ProcessExit -= OnExit;
        Console.CancelKeyPress -= OnCancel;
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A child's last write raced the delete; the folder is in the temp dir anyway.
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The silo this benchmark was built with: next to it (a project reference copies the silo, its runtimeconfig and
    /// deps), else src/Silo's own output in this configuration.
    /// </summary>
    private static string LocateSilo()
    {
        const string Assembly = "AutoGlm.Orleans.Silo.dll";
        var beside = Path.Combine(AppContext.BaseDirectory, Assembly);
        if (File.Exists(beside) && File.Exists(Path.ChangeExtension(beside, ".runtimeconfig.json")))
        {
            return beside;
        }

#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Silo", "bin", configuration, "net10.0", "linux-x64", Assembly);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"the silo is not built: run `dotnet build tests/AutoGlm.Benchmarks -c {configuration}` first", Assembly);
    }

    /// <summary>Kills every silo, then redis-server, by pid; once (the first caller: disposal or this process's exit).</summary>
    private void Shutdown()
    {
        SiloChild[] silos;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            silos = [.. _silos];
        }

        foreach (var silo in silos)
        {
            silo.Dispose();
        }

        _redis.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private void OnExit(object? sender, EventArgs e) => Shutdown();

    private void OnCancel(object? sender, ConsoleCancelEventArgs e) => Shutdown();
}
