using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Runtime;
using AutoGlm.Orleans.Inference.Tests.Support;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// The engine on CUDA: KV in device memory, written in place by GroupQueryAttention, moved device to device.
/// Runs where ONNX Runtime has its CUDA provider (a build with the Gpu package:
/// <c>-p:UseOnnxRuntimeCpu=false -p:UseOnnxRuntimeGpu=true</c>) and AUTOGLM_CUDA_MODEL names a float16
/// shared-buffer model (ONNX Runtime 1.31's CUDA GroupQueryAttention has no float32 kernel; tools/model/README.md
/// makes one). Greedy decoding on one device is deterministic, so the equalities are exact token equalities.
/// </summary>
public sealed class CudaEngineTests
{
    private static string RequireCuda()
    {
        var providers = OrtEnv.Instance().GetAvailableProviders();
        Assert.SkipUnless(providers.Contains("CUDAExecutionProvider"),
            $"no CUDA execution provider in this ONNX Runtime build (providers: {string.Join(", ", providers)})");
        var model = Environment.GetEnvironmentVariable("AUTOGLM_CUDA_MODEL");
        Assert.SkipWhen(string.IsNullOrEmpty(model), "AUTOGLM_CUDA_MODEL does not name a float16 shared-buffer model folder");
        return model!;
    }

    [Fact]
    public async Task Kv_lives_on_the_device_and_batched_rows_equal_solo_rows()
    {
        var model = RequireCuda();
        var ct = TestContext.Current.CancellationToken;
        using var engine = Inference.Engine.InferenceEngine.Create(new Inference.Engine.EngineOptions
        {
            ModelPath = model,
            Device = ExecutionDevice.Cuda,
            MaxBatchSize = 8,
        });
        Assert.True(engine.Manifest.PastPresentShareBuffer);
        string[] questions = ["What does Console.WriteLine do?", "Tell me a fortune.", "What is HttpClient for?", "Hi there."];
        var prompts = questions.Select(q => engine.EncodeChat([new(ChatRole.User, q)])).ToArray();

        var solo = new List<int[]>();
        for (var i = 0; i < prompts.Length; i++)
        {
            solo.Add((await engine.GenerateAsync($"solo-{i}", prompts[i], EngineFactory.Greedy(16 + 4 * i), [], ct)).Tokens);
        }

        var batched = await Task.WhenAll(prompts.Select((p, i) => engine.GenerateAsync($"batched-{i}", p, EngineFactory.Greedy(16 + 4 * i), [], ct)));
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(solo[i], batched[i].Tokens);
        }

        var stats = engine.GetStats();
        Assert.Equal("Cuda", stats.KvDevice);
        Assert.True(stats.KvBytesAllocated > 0);
        var handle = engine.GetOrCreateHandle("batched-0");
        Assert.Equal("Cuda", handle.Block!.DeviceName);
    }

    [Fact]
    public async Task A_second_turn_on_the_device_reuses_the_cache_and_matches_a_fresh_handle()
    {
        var model = RequireCuda();
        var ct = TestContext.Current.CancellationToken;
        using var engine = Inference.Engine.InferenceEngine.Create(new Inference.Engine.EngineOptions { ModelPath = model, Device = ExecutionDevice.Cuda });
        var turn1 = engine.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var reply = await engine.GenerateAsync("c", turn1, EngineFactory.Greedy(24), [], ct);
        var followUp = engine.Tokenizer.EncodeToIds("<|endoftext|><|user|>\nThank you.\n<|assistant|>\n").ToArray();
        var turn2 = turn1.Concat(reply.Tokens).Concat(followUp).ToArray();
        var second = await engine.GenerateAsync("c", turn2, EngineFactory.Greedy(24), [], ct);
        Assert.Equal(turn1.Length + reply.Tokens.Length - 1, second.Usage.CachedTokens);
        var fresh = await engine.GenerateAsync("fresh", turn2, EngineFactory.Greedy(24), [], ct);
        Assert.Equal(fresh.Tokens, second.Tokens);
    }

    [Fact]
    public async Task A_copied_prefix_stays_on_the_device_and_the_fork_matches_a_fresh_sequence()
    {
        var model = RequireCuda();
        var ct = TestContext.Current.CancellationToken;
        using var engine = Inference.Engine.InferenceEngine.Create(new Inference.Engine.EngineOptions { ModelPath = model, Device = ExecutionDevice.Cuda });
        var prompt = engine.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var reply = await engine.GenerateAsync("a", prompt, EngineFactory.Greedy(16), [], ct);
        var copiedBefore = engine.GetStats().KvBytesCopied;
        var cached = engine.GetOrCreateHandle("a").CachedTokenCount;

        Assert.True(engine.TryCopyKvPrefix("a", "b", cached));

        // One device-to-device copy of exactly the prefix; the fork's block is on the device like its source's.
        Assert.Equal(cached * engine.Manifest.KvBytesPerToken, engine.GetStats().KvBytesCopied - copiedBefore);
        Assert.True(engine.Pool.TryGet("b", out var b));
        Assert.Equal("Cuda", b!.Block!.DeviceName);
        var followUp = engine.Tokenizer.EncodeToIds("<|endoftext|><|user|>\nThank you.\n<|assistant|>\n").ToArray();
        var turn2 = prompt.Concat(reply.Tokens).Concat(followUp).ToArray();
        var forked = await engine.GenerateAsync("b", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(cached, forked.Usage.CachedTokens);
        var fresh = await engine.GenerateAsync("fresh", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(fresh.Tokens, forked.Tokens);
        var parent = await engine.GenerateAsync("a", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(cached, parent.Usage.CachedTokens);
        Assert.Equal(fresh.Tokens, parent.Tokens);
    }

    [Fact]
    public async Task A_snapshot_leaves_the_device_as_bytes_and_an_import_puts_them_back_on_it()
    {
        var model = RequireCuda();
        var ct = TestContext.Current.CancellationToken;
        var options = new Inference.Engine.EngineOptions { ModelPath = model, Device = ExecutionDevice.Cuda };
        using var a = Inference.Engine.InferenceEngine.Create(options);
        using var b = Inference.Engine.InferenceEngine.Create(options);
        var prompt = a.EncodeChat([new(ChatRole.User, "What does Console.WriteLine do?")]);
        var reply = await a.GenerateAsync("a", prompt, EngineFactory.Greedy(16), [], ct);
        var cached = a.GetOrCreateHandle("a").Tokens.ToArray();

        var export = System.Diagnostics.Stopwatch.StartNew();
        var snapshot = a.ExportKv("a");
        export.Stop();

        Assert.NotNull(snapshot);
        Assert.Equal(cached, snapshot.TokenIds);
        Assert.Equal(cached.Length * a.Manifest.KvBytesPerToken, snapshot.Data.Length);
        Assert.Contains(snapshot.Data.ToArray(), x => x != 0); // device to host landed real keys and values
        var import = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(b.TryImportKv("moved", snapshot));
        import.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"CUDA: {cached.Length} tokens, {snapshot.Data.Length:N0} bytes; export {export.Elapsed.TotalMilliseconds:F2} ms, import {import.Elapsed.TotalMilliseconds:F2} ms");

        Assert.True(b.Pool.TryGet("moved", out var moved));
        Assert.Equal("Cuda", moved!.Block!.DeviceName);
        Assert.Equal(snapshot.Data.ToArray(), b.ExportKv("moved")!.Data.ToArray()); // host to device and back, exactly
        var followUp = a.Tokenizer.EncodeToIds("<|endoftext|><|user|>\nThank you.\n<|assistant|>\n").ToArray();
        var turn2 = prompt.Concat(reply.Tokens).Concat(followUp).ToArray();
        var continued = await b.GenerateAsync("moved", turn2, EngineFactory.Greedy(16), [], ct);
        var expected = await a.GenerateAsync("a", turn2, EngineFactory.Greedy(16), [], ct);
        Assert.Equal(cached.Length, continued.Usage.CachedTokens);
        Assert.Equal(expected.Tokens, continued.Tokens);
    }
}
