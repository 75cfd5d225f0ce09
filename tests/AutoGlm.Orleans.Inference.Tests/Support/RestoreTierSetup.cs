using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>Engines with a small KV budget and a restore tier in a scratch folder, and what the tests look at in it.</summary>
internal static class RestoreTierSetup
{
    public static long BytesPerToken { get; } = ModelFolder.Load(RepositoryPaths.DefaultModel).KvBytesPerToken;

    public static InferenceEngine Create(string layout, RestoreTierKind kind, TempDirectory folder, int budgetTokens,
        long tierBytes = EngineOptions.DefaultRestoreTierBytes) =>
        EngineFactory.Create(layout, o => o with
        {
            KvBudgetBytes = budgetTokens * BytesPerToken,
            RestoreTierKind = kind,
            RestoreTierBytes = tierBytes,
            RestoreTierPath = folder.Path,
        });

    /// <summary>The tier's figures once the disk writer has written everything spilled so far.</summary>
    public static async Task<RestoreTierStats> SettledAsync(InferenceEngine engine, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var stats = engine.GetRestoreTierStats();
            if (stats.PendingWriteBytes == 0 && (stats.Folder is null || Files(stats).Length == stats.Entries && TempFiles(stats).Length == 0))
            {
                return stats;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the tier did not settle: {stats}");
            await Task.Delay(10, ct);
        }
    }

    /// <summary>The entry files in the engine's tier folder (none for a host tier).</summary>
    public static string[] Files(RestoreTierStats stats) =>
        stats.Folder is null ? [] : Directory.GetFiles(stats.Folder, "*" + RestoreTier.FileExtension);

    public static string[] TempFiles(RestoreTierStats stats) =>
        stats.Folder is null ? [] : Directory.GetFiles(stats.Folder, "*.tmp");
}
