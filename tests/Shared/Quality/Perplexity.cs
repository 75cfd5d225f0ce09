using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Testing.Quality;

/// <summary>
/// Teacher-forced perplexity of one graph over a token sequence, with the raw <see cref="ModelRunner"/> (no
/// scheduler, no sampling). The graphs return the last position's logits only, so the sequence is cut into equal
/// windows that run side by side as the rows of one batch, fed one token a step over their KV caches; each step's
/// logits score each window's next token. (Batching the windows reads the weights once a step for all of them: the
/// float32 LM head alone is 25 MB.)
/// </summary>
internal static class Perplexity
{
    /// <summary>
    /// Mean negative log-likelihood (nats a token) of <paramref name="tokens"/> in consecutive windows of
    /// <paramref name="window"/> tokens, each from an empty cache, its first token context only; a last partial
    /// window is left out.
    /// </summary>
    public static PerplexityResult Measure(string modelPath, ModelManifest manifest, IReadOnlyList<int> tokens, int window, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 2);
        var rows = tokens.Count / window;
        ArgumentOutOfRangeException.ThrowIfZero(rows, nameof(tokens));
        var windows = new int[rows][];
        for (var r = 0; r < rows; r++)
        {
            windows[r] = [.. tokens.Skip(r * window).Take(window)];
        }

        using var runner = new ModelRunner(modelPath, manifest, ExecutionDevice.Cpu, threads);
        var nll = manifest.PastPresentShareBuffer ? SharedBuffer(runner, manifest, windows) : Concat(runner, manifest, windows);
        return new PerplexityResult(nll / (rows * (window - 1)), rows * (window - 1));
    }

    private static double SharedBuffer(ModelRunner runner, ModelManifest manifest, int[][] windows)
    {
        var (rows, length) = (windows.Length, windows[0].Length);
        var kv = new OrtValue[runner.KvTensorCount];
        var logits = new float[rows * manifest.VocabSize];
        try
        {
            for (var i = 0; i < kv.Length; i++)
            {
                // Positions at or past a row's length are never read: the buffer needs no clearing.
                kv[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, manifest.KvElementType,
                    [rows, manifest.NumKeyValueHeads, length, manifest.HeadDim]);
            }

            using var logitsValue = OrtValue.CreateTensorValueFromMemory(logits, [rows, 1, manifest.VocabSize]);
            var nll = 0.0;
            for (var t = 0; t + 1 < length; t++)
            {
                using var ids = Column(windows, t);
                using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, rows * (t + 1)).ToArray(), [rows, t + 1]);
                using var positions = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat((long)t, rows).ToArray(), [rows, 1]);
                runner.ForwardInPlace(ids, mask, positions, kv, logitsValue);
                for (var r = 0; r < rows; r++)
                {
                    nll += NegativeLogLikelihood(logits.AsSpan(r * manifest.VocabSize, manifest.VocabSize), windows[r][t + 1]);
                }
            }

            return nll;
        }
        finally
        {
            foreach (var value in kv)
            {
                value?.Dispose();
            }
        }
    }

    private static double Concat(ModelRunner runner, ModelManifest manifest, int[][] windows)
    {
        var (rows, length) = (windows.Length, windows[0].Length);
        var past = new OrtValue[runner.KvTensorCount];
        for (var i = 0; i < past.Length; i++)
        {
            past[i] = OrtValue.CreateTensorValueFromMemory(Array.Empty<float>(), [rows, manifest.NumKeyValueHeads, 0, manifest.HeadDim]);
        }

        try
        {
            var nll = 0.0;
            for (var t = 0; t + 1 < length; t++)
            {
                using var ids = Column(windows, t);
                using var mask = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(1L, rows * (t + 1)).ToArray(), [rows, t + 1]);
                using var positions = OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat((long)t, rows).ToArray(), [rows, 1]);
                using var result = runner.Forward(ids, mask, positions, past);
                for (var r = 0; r < rows; r++)
                {
                    nll += NegativeLogLikelihood(result.LastLogits(r), windows[r][t + 1]);
                }

                foreach (var value in past)
                {
                    value.Dispose();
                }

                past = result.TakePresents();
            }

            return nll;
        }
        finally
        {
            foreach (var value in past)
            {
                value.Dispose();
            }
        }
    }

    /// <summary>Token <paramref name="t"/> of every window, as input_ids [rows, 1].</summary>
    private static OrtValue Column(int[][] windows, int t) =>
        OrtValue.CreateTensorValueFromMemory(windows.Select(w => (long)w[t]).ToArray(), [windows.Length, 1]);

    /// <summary>-log softmax(logits)[target], computed in double around the maximum so nothing overflows.</summary>
    internal static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target)
    {
        var max = double.NegativeInfinity;
        foreach (var x in logits)
        {
            max = Math.Max(max, x);
        }

        var sum = 0.0;
        foreach (var x in logits)
        {
            sum += Math.Exp(x - max);
        }

        return max + Math.Log(sum) - logits[target];
    }
}

/// <summary>Mean negative log-likelihood over <see cref="Tokens"/> scored tokens; perplexity is its exponential.</summary>
internal sealed record PerplexityResult(double MeanNll, int Tokens)
{
    public double Value => Math.Exp(MeanNll);
}
