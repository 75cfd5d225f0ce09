using System.Globalization;
using AutoGlm.Orleans.Http.Tests.Support;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Silo;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>Every Engine:* key reaches the silo's engine as given: the options bind onto EngineOptions itself, with no hand copy to forget one.</summary>
public sealed class EngineConfigurationTests
{
    [Fact]
    public async Task Engine_keys_bind_onto_the_engines_options_including_the_variant_and_spinning()
    {
        await using var app = SiloHost.Build(Arguments(
            "--Engine:ModelVariant", "optimum",
            "--Engine:IntraOpSpinning", "Always",
            "--Engine:IntraOpSpinDuration", "00:00:00.0005",
            "--Engine:MaxBatchSize", "7",
            "--Engine:MaxTokensPerStep", "64",
            "--Engine:RestoreTierKind", "Off"));
        var engine = app.Services.GetRequiredService<InferenceEngine>();
        Assert.Equal("optimum", engine.Options.ModelVariant);
        Assert.Equal("model.optimum.onnx", engine.Manifest.OnnxFile);
        Assert.False(engine.Manifest.PastPresentShareBuffer);
        Assert.Equal(AutoGlm.Orleans.Inference.Runtime.IntraOpSpinning.Always, engine.Options.IntraOpSpinning);
        Assert.Equal(TimeSpan.FromMicroseconds(500), engine.Options.IntraOpSpinDuration);
        Assert.Equal(7, engine.Options.MaxBatchSize);
        Assert.Equal(64, engine.Options.MaxTokensPerStep);
        Assert.Equal(RestoreTierKind.Off, engine.Options.RestoreTierKind);
        Assert.Equal(Path.GetFullPath(RepositoryPaths.DefaultModel), Path.GetFullPath(engine.Options.ModelPath));
    }

    [Fact]
    public void A_misspelt_engine_key_stops_the_silo_instead_of_being_ignored()
    {
        var error = Assert.ThrowsAny<InvalidOperationException>(() => SiloHost.Build(Arguments("--Engine:MaxBatchSise", "7")));
        Assert.Contains("MaxBatchSise", error.ToString(), StringComparison.Ordinal);
    }

    private static string[] Arguments(params string[] more) =>
    [
        "--http-port", Free(), "--http-host", "127.0.0.1", "--silo-port", Free(), "--gateway-port", Free(),
        "--cluster-id", "engine-config-" + Guid.NewGuid().ToString("N"), "--model", RepositoryPaths.DefaultModel,
        "--Engine:IntraOpThreads", "1", "--Engine:KvBudgetBytes", "67108864",
        "--Logging:LogLevel:Default", "Warning", .. SiloLogs.QuietConsole, .. more,
    ];

    private static string Free() => SiloServer.FreePort().ToString(CultureInfo.InvariantCulture);
}
