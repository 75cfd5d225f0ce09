using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;
using AutoGlm.Orleans.Inference.Tests.Support;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// The layout the decode batch relies on: rows of different past lengths, left-padded (mask 0, zeroed KV),
/// give the same logits as each row run alone.
/// </summary>
public sealed class LeftPaddedBatchTests
{
    [Fact]
    public void Left_padded_rows_give_their_solo_logits()
    {
        // Left padding is the Concat graph's batch layout; the shared-buffer graph right-pads (its own tests).
        var manifest = ModelFolder.Load(RepositoryPaths.DefaultModel).WithVariant("optimum");
        using var runner = new ModelRunner(RepositoryPaths.DefaultModel, manifest, ExecutionDevice.Cpu, 2);
        var layout = KvLayout.For(manifest);
        var reference = ReferenceFile.Load(RepositoryPaths.DefaultModel);
        var prompts = reference.References.Select(r => r.PromptIds).ToArray();
        const int next = 464;

        // Solo: prefill each prompt, then one decode step of `next`.
        var solo = new List<float[]>();
        var cached = new List<OrtValue[]>();
        foreach (var prompt in prompts)
        {
            var empty = runner.EmptyPast();
            using var prefill = Forward(runner, [.. prompt.Select(t => (long)t)], 0, empty);
            foreach (var e in empty)
            {
                e.Dispose();
            }

            var kv = prefill.TakePresents();
            using var step = Forward(runner, [next], prompt.Length, kv);
            solo.Add(step.LastLogits(0).ToArray());
            cached.Add(kv);
        }

        // Batched: the same caches left-padded to the longest, one decode step for all rows.
        var longest = prompts.Max(p => p.Length);
        var past = new OrtValue[runner.KvTensorCount];
        for (var i = 0; i < past.Length; i++)
        {
            past[i] = layout.Allocate(prompts.Length, longest);
            for (var r = 0; r < prompts.Length; r++)
            {
                var pad = longest - prompts[r].Length;
                layout.Clear(past[i], r, 0, pad);
                layout.Copy(cached[r][i], 0, 0, past[i], r, pad, prompts[r].Length);
            }
        }

        var b = prompts.Length;
        var total = longest + 1;
        var mask = new long[b * total];
        for (var r = 0; r < b; r++)
        {
            for (var j = longest - prompts[r].Length; j < total; j++)
            {
                mask[r * total + j] = 1;
            }
        }

        using var ids = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat((long)next, b).ToArray(), [b, 1]);
        using var positions = OrtValue.CreateTensorValueFromMemory(prompts.Select(p => (long)p.Length).ToArray(), [b, 1]);
        using var attention = OrtValue.CreateTensorValueFromMemory(mask, [b, total]);
        using var batched = runner.Forward(ids, attention, positions, past);
        for (var r = 0; r < b; r++)
        {
            var row = batched.LastLogits(r);
            var maxDiff = 0f;
            for (var v = 0; v < row.Length; v++)
            {
                maxDiff = MathF.Max(maxDiff, MathF.Abs(row[v] - solo[r][v]));
            }

            Assert.True(maxDiff <= 1e-4f, $"row {r} (prompt {prompts[r].Length} tokens): max |batched - solo| = {maxDiff:E2}");
        }

        foreach (var tensor in past.Concat(cached.SelectMany(c => c)))
        {
            tensor.Dispose();
        }
    }

    private static ForwardResult Forward(ModelRunner runner, long[] ids, int past, IReadOnlyList<OrtValue> kv)
    {
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [1, ids.Length]);
        using var positions = OrtValue.CreateTensorValueFromMemory(Enumerable.Range(past, ids.Length).Select(p => (long)p).ToArray(), [1, ids.Length]);
        using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, past + ids.Length).ToArray(), [1, past + ids.Length]);
        return runner.Forward(idsValue, mask, positions, kv);
    }
}
