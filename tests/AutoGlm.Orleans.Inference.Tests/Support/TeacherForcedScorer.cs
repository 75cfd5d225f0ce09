using System.Numerics.Tensors;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.Tests.Support;

/// <summary>
/// Feeds whole token sequences one token a step through a shared-buffer graph, the engine's own
/// <see cref="ModelRunner"/> and <see cref="KvMemory"/> blocks holding the KV (so an int8 variant runs on int8 blocks),
/// and records at every position the argmax and the log-probability of the token that follows. Teacher forcing: a
/// wrong argmax does not change what comes next, so two graphs are compared position by position. Decode steps only
/// (the graph's logits are for the last position), rows batched and all of one length per step.
/// </summary>
internal sealed class TeacherForcedScorer : IDisposable
{
    private readonly ModelRunner _runner;
    private readonly KvMemory _memory;
    private readonly int _batch;

    public TeacherForcedScorer(string modelDirectory, string? variant, int batch = 8)
    {
        var manifest = ModelFolder.Load(modelDirectory).WithVariant(variant);
        Assert.True(manifest.PastPresentShareBuffer, "teacher forcing here drives shared-buffer graphs");
        _runner = new ModelRunner(modelDirectory, manifest, ExecutionDevice.Cpu, intraOpThreads: 2);
        _memory = _runner.CreateKvMemory();
        _batch = batch;
    }

    public ModelManifest Manifest => _runner.Manifest;

    /// <summary>For each sequence, per position i &lt; length - 1: the argmax after token i and log p(token i + 1).</summary>
    public Scores[] Score(IReadOnlyList<int[]> sequences)
    {
        var scores = new Scores[sequences.Count];
        for (var first = 0; first < sequences.Count; first += _batch)
        {
            var rows = sequences.Skip(first).Take(_batch).ToArray();
            var result = ScoreBatch(rows);
            result.CopyTo(scores, first);
        }

        return scores;
    }

    private Scores[] ScoreBatch(int[][] rows)
    {
        var b = rows.Length;
        var longest = rows.Max(r => r.Length);
        var vocab = Manifest.VocabSize;
        var results = rows.Select(r => new Scores(new int[r.Length - 1], new double[r.Length - 1])).ToArray();
        using var block = _memory.Allocate(b, longest);
        using var logits = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [b, 1, vocab]);
        var ids = new long[b];
        var positions = new long[b];
        for (var t = 0; t < longest - 1; t++)
        {
            for (var r = 0; r < b; r++)
            {
                // A finished row keeps stepping on its last token: its output is ignored, its KV never read again.
                ids[r] = rows[r][Math.Min(t, rows[r].Length - 1)];
                positions[r] = t;
            }

            var mask = new long[b * (t + 1)];
            Array.Fill(mask, 1L);
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [b, 1]);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [b, t + 1]);
            using var positionValue = OrtValue.CreateTensorValueFromMemory(positions, [b, 1]);
            _runner.ForwardInPlace(idsValue, maskValue, positionValue, block.Views(b), logits);
            var all = logits.GetTensorDataAsSpan<float>();
            for (var r = 0; r < b; r++)
            {
                if (t + 1 >= rows[r].Length)
                {
                    continue;
                }

                var row = all.Slice(r * vocab, vocab);
                results[r].Argmax[t] = TensorPrimitives.IndexOfMax(row);
                results[r].LogProb[t] = LogSoftmaxAt(row, rows[r][t + 1]);
            }
        }

        return results;
    }

    private static double LogSoftmaxAt(ReadOnlySpan<float> logits, int index)
    {
        var max = TensorPrimitives.Max(logits);
        var sum = 0.0;
        foreach (var v in logits)
        {
            sum += Math.Exp(v - max);
        }

        return logits[index] - max - Math.Log(sum);
    }

    public void Dispose()
    {
        _memory.Dispose();
        _runner.Dispose();
    }

    /// <summary>Per position: the graph's argmax and the log-probability it gave the actual next token.</summary>
    public sealed record Scores(int[] Argmax, double[] LogProb);
}
