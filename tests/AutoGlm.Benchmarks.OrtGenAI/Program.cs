using System.Text.Json;
using AutoGlm.Orleans.Benchmarks.MultiTurn;
using AutoGlm.Orleans.Benchmarks.OrtGenAI;
using AutoGlm.Orleans.Benchmarks.OrtGenAI.Forward;
using Microsoft.ML.OnnxRuntimeGenAI;

// `forward --model DIR …`: GenAI, our raw forward and our engine decoding batch 1 side by side (ForwardComparison).
if (args.Length > 0 && args[0] == "forward")
{
    using var oga = new OgaHandle();
    return await ForwardComparison.RunAsync(args[1..], CancellationToken.None);
}

// The ortgenai system of the multiturn benchmark, in its own process: REQUEST.json in, RESPONSE.json out.
if (args.Length != 2)
{
    Console.Error.WriteLine("usage: AutoGlm.Benchmarks.OrtGenAI REQUEST.json RESPONSE.json (launched by AutoGlm.Benchmarks multiturn)");
    Console.Error.WriteLine("   or: AutoGlm.Benchmarks.OrtGenAI forward --model DIR [--prompt 512] [--rounds 9] [--window 32] [--threads N] [--json FILE]");
    return 2;
}

var request = JsonSerializer.Deserialize<ChildRequest>(await File.ReadAllTextAsync(args[0]), ChildJson.Options)
    ?? throw new InvalidDataException("empty request");
var shareBuffer = GenAiConfig.SharesBuffer(request.ModelPath);
var modelType = GenAiConfig.IsGenAiExport(request.ModelPath) ? "the export's genai_config.json" : "'decoder'";
List<string> notes =
[
    $"ONNX Runtime GenAI 0.18.0 (C# API, CPU), model type {modelType}, greedy, min_length = max_length = context (no end of sequence), "
    + $"past_present_share_buffer {(shareBuffer ? "true" : "false")}, intra_op_num_threads {request.IntraOpThreads}",
    "one Generator per conversation kept across turns, AppendTokens per turn; C generators on C threads, one shared model: no batching across conversations (not in the 0.18 C# API)",
    "workaround: after a reply, GenAI 0.18 holds no KV for the last generated token and sizes the next AppendTokens one too long "
    + "(ONNX Runtime rejects the present shape); each turn from the second rewinds 2 tokens (RewindTo only accepts lengths below the KV's) "
    + "and appends them again with the new message: 2 tokens recomputed per turn",
    GenAiConfig.IsGenAiExport(request.ModelPath)
        ? "the export's logits are [B,S,V], as the model builder writes them"
        : "the model's logits are [B,1,V] (last position only): GenAI 0.18 accepts them (it detects a pruned logits output)",
];
var runs = new List<RunResult>();
string? error = null;
DirectoryInfo? folder = null;
using (new OgaHandle())
{
    try
    {
        folder = GenAiConfig.Write(request.ModelPath, request.ContextLength, request.IntraOpThreads);
        foreach (var concurrency in request.Concurrencies)
        {
            var system = new OrtGenAiSystem(folder.FullName);
            await using (system.ConfigureAwait(false))
            {
                await MultiTurnDriver.WarmUpAsync(system, request.Conversations[0], CancellationToken.None);
                using var progress = new ProgressDisplay($"ortgenai c={concurrency}", request.Conversations.Sum(c => c.Turns.Count));
                runs.Add(await MultiTurnDriver.RunAsync(system, request.Conversations, concurrency, progress, CancellationToken.None));
            }
        }
    }
    catch (Exception ex) when (ex is OnnxRuntimeGenAIException or InvalidOperationException or IOException)
    {
        // Reported, not faked: the parent lists the system as failed with this message.
        error = ex.Message;
    }
    finally
    {
        folder?.Delete(recursive: true);
    }
}

await File.WriteAllTextAsync(args[1], JsonSerializer.Serialize(new ChildResponse(runs, error, notes), ChildJson.Options));
return error is null ? 0 : 1;
