using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tests.Support;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace AutoGlm.Orleans.Inference.Tests.Models;

/// <summary>
/// The shipped model's two graphs over one weights file: the GroupQueryAttention graph (model.onnx), driven the way
/// ONNX Runtime GenAI drives it with past_present_share_buffer (one preallocated [B,H,Cap,Dh] OrtValue bound as both
/// past_key_values.i.x and present.i.x, written in place), computes what the Optimum graph (model.optimum.onnx)
/// computes with its per-step Concat. Plain ONNX Runtime on the CPU, no engine code.
/// </summary>
public sealed class SharedBufferGraphTests : IClassFixture<SharedBufferGraphTests.GraphsFixture>
{
    private const float Tolerance = 1e-4f;
    private const int DecodeSteps = 20;
    private const int Capacity = 512;

    private readonly GraphsFixture _graphs;
    private readonly ITestOutputHelper _output;

    public SharedBufferGraphTests(GraphsFixture graphs, ITestOutputHelper output)
    {
        _graphs = graphs;
        _output = output;
    }

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        var count = ReferenceFile.Load(RepositoryPaths.DefaultModel).References.Count;
        for (var i = 0; i < count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Fact]
    public void Manifest_names_both_graphs_over_one_weights_file()
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepositoryPaths.DefaultModel, ModelManifest.FileName)));
        var root = json.RootElement;
        Assert.Equal("model.onnx", root.GetProperty("onnx_file").GetString());
        Assert.True(root.GetProperty("past_present_share_buffer").GetBoolean());
        var optimum = root.GetProperty("variants").GetProperty("optimum");
        Assert.Equal("model.optimum.onnx", optimum.GetProperty("onnx_file").GetString());
        Assert.False(optimum.GetProperty("past_present_share_buffer").GetBoolean());

        // Both graphs are small: the weights live once, in model.weights.
        var folder = RepositoryPaths.DefaultModel;
        Assert.InRange(new FileInfo(Path.Combine(folder, "model.onnx")).Length, 1, 1L << 20);
        Assert.InRange(new FileInfo(Path.Combine(folder, "model.optimum.onnx")).Length, 1, 1L << 20);
        Assert.InRange(new FileInfo(Path.Combine(folder, "model.weights")).Length, 20L << 20, 40L << 20);

        var m = _graphs.Manifest;
        foreach (var session in new[] { _graphs.Gqa, _graphs.Optimum })
        {
            Assert.Equal(m.GraphInputNames().Order(), session.InputMetadata.Keys.Order());
            Assert.Equal(m.GraphOutputNames().Order(), session.OutputMetadata.Keys.Order());
            Assert.Equal(new[] { -1, m.NumKeyValueHeads, -1, m.HeadDim }, session.InputMetadata[m.Inputs.PastKeyOf(0)].Dimensions);
            Assert.Equal(new[] { -1, 1, m.VocabSize }, session.OutputMetadata[m.Outputs.Logits].Dimensions);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Shared_buffer_decoding_matches_the_optimum_graph(int index)
    {
        var r = _graphs.Reference.References[index];
        Assert.True(r.PromptIds.Length + DecodeSteps + 1 <= Capacity);
        using var optimum = new ReferenceDecoder(_graphs.Optimum, _graphs.Manifest);
        using var gqa = new SharedBufferDecoder(_graphs.Gqa, _graphs.Manifest, batch: 1, Capacity);

        var expected = optimum.Step(r.PromptIds);
        var actual = gqa.Step(r.PromptIds);
        var worst = MaxAbsDiff(expected, actual);
        Assert.True(MaxAbsDiff(r.LastLogits, actual) <= _graphs.Reference.LogitsTolerance, "GQA prefill vs torch");

        var generated = new List<int>();
        for (var step = 0; step < DecodeSteps; step++)
        {
            var diff = MaxAbsDiff(expected, actual);
            Assert.True(diff <= Tolerance, $"step {step}: max |GQA - Optimum| = {diff:E3}");
            worst = MathF.Max(worst, diff);
            var next = TensorPrimitives.IndexOfMax(expected);
            Assert.Equal(next, TensorPrimitives.IndexOfMax(actual));
            generated.Add(next);
            expected = optimum.Step([next]);
            actual = gqa.Step([next]);
        }

        var last = MaxAbsDiff(expected, actual);
        Assert.True(last <= Tolerance, $"after {DecodeSteps} steps: max |GQA - Optimum| = {last:E3}");
        worst = MathF.Max(worst, last);
        Assert.Equal(r.GreedyIds.Take(DecodeSteps), generated);
        Assert.Equal(r.PromptIds.Length + DecodeSteps, gqa.CachedTokens);
        _output.WriteLine($"prompt {r.PromptIds.Length} tokens, {DecodeSteps} steps: max |GQA - Optimum| = {worst:E3}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Chunked_prefill_matches_one_shot_prefill(int index)
    {
        // Small enough that every reference prompt takes several chunks, the last one ragged.
        const int Chunk = 7;
        var r = _graphs.Reference.References[index];
        Assert.True(r.PromptIds.Length > 2 * Chunk && r.PromptIds.Length % Chunk != 0);
        using var oneShot = new SharedBufferDecoder(_graphs.Gqa, _graphs.Manifest, batch: 1, Capacity);
        using var chunked = new SharedBufferDecoder(_graphs.Gqa, _graphs.Manifest, batch: 1, Capacity);

        var expected = oneShot.Step(r.PromptIds);
        float[] actual = [];
        for (var start = 0; start < r.PromptIds.Length; start += Chunk)
        {
            // After the first chunk S > 1 with a non-empty past: GroupQueryAttention's subsequent prompt (batch 1).
            actual = chunked.Step(r.PromptIds.Skip(start).Take(Chunk).ToArray());
        }

        var diff = MaxAbsDiff(expected, actual);
        Assert.True(diff <= Tolerance, $"chunked vs one-shot prefill: {diff:E3}");
        Assert.True(MaxAbsDiff(r.LastLogits, actual) <= _graphs.Reference.LogitsTolerance, "chunked prefill vs torch");

        // The chunks left the same K/V in the buffer, and decoding goes on identically from it.
        var kvDiff = 0f;
        for (var i = 0; i < 2 * _graphs.Manifest.NumLayers; i++)
        {
            kvDiff = MathF.Max(kvDiff, MaxAbsDiff(oneShot.ValidKv(i, 0, r.PromptIds.Length), chunked.ValidKv(i, 0, r.PromptIds.Length)));
        }

        Assert.True(kvDiff <= Tolerance, $"chunked vs one-shot K/V: {kvDiff:E3}");
        var next = TensorPrimitives.IndexOfMax(expected);
        var decodeDiff = MaxAbsDiff(oneShot.Step([next]), chunked.Step([next]));
        Assert.True(decodeDiff <= Tolerance, $"decode after chunked prefill: {decodeDiff:E3}");
        _output.WriteLine($"prompt {r.PromptIds.Length} tokens in chunks of {Chunk}: logits {diff:E3}, K/V {kvDiff:E3}, next step {decodeDiff:E3}");
    }

    [Fact]
    public void Batched_decode_of_right_padded_rows_matches_each_row_alone()
    {
        const int Steps = 4;
        var m = _graphs.Manifest;
        var prompts = new[] { 0, 3, 1 }.Select(i => _graphs.Reference.References[i].PromptIds).ToArray();
        Assert.Equal(prompts.Length, prompts.Select(p => p.Length).Distinct().Count());

        var alone = prompts.Select(_ => new SharedBufferDecoder(_graphs.Gqa, m, batch: 1, Capacity)).ToArray();
        try
        {
            using var batched = new SharedBufferDecoder(_graphs.Gqa, m, batch: prompts.Length, Capacity);
            // Everything past a row's valid length is NaN: GroupQueryAttention must never read it.
            batched.FillKv(float.NaN);
            var lengths = new int[prompts.Length];
            var logits = new float[prompts.Length][];
            for (var b = 0; b < prompts.Length; b++)
            {
                logits[b] = alone[b].Step(prompts[b]);
                lengths[b] = prompts[b].Length;
                for (var i = 0; i < 2 * m.NumLayers; i++)
                {
                    batched.SetValidKv(i, b, alone[b].ValidKv(i, 0, lengths[b]));
                }
            }

            var worst = 0f;
            for (var step = 0; step < Steps; step++)
            {
                var width = lengths.Max() + 1;
                var ids = new long[prompts.Length];
                var positions = new long[prompts.Length];
                var mask = new long[prompts.Length * width];
                for (var b = 0; b < prompts.Length; b++)
                {
                    ids[b] = TensorPrimitives.IndexOfMax(logits[b]);
                    positions[b] = lengths[b];
                    // Right-padded: row b's past is [0, len_b), its new token goes at len_b.
                    mask.AsSpan(b * width, lengths[b] + 1).Fill(1);
                }

                var rows = batched.Run(ids, positions, mask, sequenceLength: 1);
                for (var b = 0; b < prompts.Length; b++)
                {
                    logits[b] = alone[b].Step([(int)ids[b]]);
                    var diff = MaxAbsDiff(logits[b], rows[b]);
                    Assert.True(diff <= Tolerance, $"step {step}, row {b} (length {lengths[b]}): {diff:E3}");
                    Assert.Equal(TensorPrimitives.IndexOfMax(logits[b]), TensorPrimitives.IndexOfMax(rows[b]));
                    worst = MathF.Max(worst, diff);
                    lengths[b]++;
                }
            }

            // Each row's new K/V landed at its own positions and nowhere else.
            for (var b = 0; b < prompts.Length; b++)
            {
                for (var i = 0; i < 2 * m.NumLayers; i++)
                {
                    var diff = MaxAbsDiff(alone[b].ValidKv(i, 0, lengths[b]), batched.ValidKv(i, b, lengths[b]));
                    Assert.True(diff <= Tolerance, $"row {b}, K/V {i}: {diff:E3}");
                    Assert.All(batched.KvPositions(i, b, lengths[b], Capacity - lengths[b]), v => Assert.True(float.IsNaN(v)));
                }
            }

            _output.WriteLine($"rows of {string.Join(", ", prompts.Select(p => p.Length))} tokens, {Steps} batched steps: max |batched - alone| = {worst:E3}");
        }
        finally
        {
            foreach (var decoder in alone)
            {
                decoder.Dispose();
            }
        }
    }

    private static float MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        var max = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            var d = MathF.Abs(a[i] - b[i]);
            if (!(d <= max))
            {
                max = float.IsNaN(d) ? float.PositiveInfinity : d;
            }
        }

        return max;
    }

    /// <summary>
    /// The GQA graph with past_present_share_buffer: per layer one [B,H,Cap,Dh] key and one value OrtValue, each bound
    /// both as past_key_values.i.x and as present.i.x of one IoBinding. Rows are right-padded; the attention mask's
    /// row sums tell GroupQueryAttention each row's length.
    /// </summary>
    private sealed class SharedBufferDecoder : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly ModelManifest _manifest;
        private readonly OrtIoBinding _binding;
        private readonly OrtValue[] _kv;
        private readonly OrtValue _logits;
        private readonly int _batch;
        private readonly int _capacity;

        public SharedBufferDecoder(InferenceSession session, ModelManifest manifest, int batch, int capacity)
        {
            _session = session;
            _manifest = manifest;
            _batch = batch;
            _capacity = capacity;
            _binding = session.CreateIoBinding();
            // Bound first: GetOutputValues returns logits, then the presents, in binding order.
            _logits = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [batch, 1, manifest.VocabSize]);
            _binding.BindOutput(manifest.Outputs.Logits, _logits);
            _kv = new OrtValue[2 * manifest.NumLayers];
            long[] shape = [batch, manifest.NumKeyValueHeads, capacity, manifest.HeadDim];
            for (var i = 0; i < _kv.Length; i++)
            {
                _kv[i] = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, shape);
                _kv[i].GetTensorMutableDataAsSpan<float>().Clear();
                var layer = i / 2;
                _binding.BindOutput(i % 2 == 0 ? manifest.Outputs.PresentKeyOf(layer) : manifest.Outputs.PresentValueOf(layer), _kv[i]);
            }
        }

        /// <summary>Tokens cached in the single row (batch 1 only, through <see cref="Step"/>).</summary>
        public int CachedTokens { get; private set; }

        /// <summary>Batch 1: feeds tokens after the cached ones with an all-ones mask; returns the last logits.</summary>
        public float[] Step(IReadOnlyList<int> tokens)
        {
            Assert.Equal(1, _batch);
            var s = tokens.Count;
            var ids = tokens.Select(t => (long)t).ToArray();
            var positions = Enumerable.Range(CachedTokens, s).Select(p => (long)p).ToArray();
            var mask = Enumerable.Repeat(1L, CachedTokens + s).ToArray();
            var logits = Run(ids, positions, mask, s)[0];
            CachedTokens += s;
            return logits;
        }

        /// <summary>One forward: ids and positions [B,S], mask [B,T]; returns each row's last-position logits.</summary>
        public float[][] Run(long[] ids, long[] positions, long[] mask, int sequenceLength)
        {
            var total = mask.Length / _batch;
            Assert.True(total <= _capacity);
            using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [_batch, sequenceLength]);
            using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [_batch, total]);
            using var positionValue = OrtValue.CreateTensorValueFromMemory(positions, [_batch, sequenceLength]);
            try
            {
                _binding.BindInput(_manifest.Inputs.InputIds, idsValue);
                _binding.BindInput(_manifest.Inputs.AttentionMask, maskValue);
                if (_manifest.Inputs.PositionIds is { } positionName)
                {
                    _binding.BindInput(positionName, positionValue);
                }

                for (var i = 0; i < _kv.Length; i++)
                {
                    var layer = i / 2;
                    _binding.BindInput(i % 2 == 0 ? _manifest.Inputs.PastKeyOf(layer) : _manifest.Inputs.PastValueOf(layer), _kv[i]);
                }

                using var runOptions = new RunOptions();
                _session.RunWithBinding(runOptions, _binding);
            }
            finally
            {
                // The id/mask/position values die with this call: the binding must not keep them.
                _binding.ClearBoundInputs();
            }

            // The presents are still our buffers: GroupQueryAttention wrote in place.
            var outputs = _binding.GetOutputValues();
            try
            {
                Assert.Equal(1 + _kv.Length, outputs.Count);
                for (var i = 0; i < _kv.Length; i++)
                {
                    var present = outputs[1 + i];
                    Assert.Equal(_kv[i].GetTensorTypeAndShape().Shape, present.GetTensorTypeAndShape().Shape);
                    Assert.True(Unsafe.AreSame(
                        ref MemoryMarshal.GetReference(_kv[i].GetTensorDataAsSpan<float>()),
                        ref MemoryMarshal.GetReference(present.GetTensorDataAsSpan<float>())), $"present {i} is not its past buffer");
                }
            }
            finally
            {
                outputs.Dispose();
            }

            var vocab = _manifest.VocabSize;
            var all = _logits.GetTensorDataAsSpan<float>();
            var rows = new float[_batch][];
            for (var b = 0; b < _batch; b++)
            {
                rows[b] = all.Slice(b * vocab, vocab).ToArray();
            }

            return rows;
        }

        public void FillKv(float value)
        {
            foreach (var kv in _kv)
            {
                kv.GetTensorMutableDataAsSpan<float>().Fill(value);
            }
        }

        /// <summary>Buffer <paramref name="index"/> (layer-major: key, value), row <paramref name="row"/>,
        /// positions [start, start + count) of every head, concatenated head by head.</summary>
        public float[] KvPositions(int index, int row, int start, int count)
        {
            var dh = _manifest.HeadDim;
            var data = _kv[index].GetTensorDataAsSpan<float>();
            var result = new float[_manifest.NumKeyValueHeads * count * dh];
            for (var h = 0; h < _manifest.NumKeyValueHeads; h++)
            {
                data.Slice(HeadOffset(row, h) + start * dh, count * dh).CopyTo(result.AsSpan(h * count * dh));
            }

            return result;
        }

        public float[] ValidKv(int index, int row, int length) => KvPositions(index, row, 0, length);

        /// <summary>Writes positions [0, length) of every head of row <paramref name="row"/> from <see cref="ValidKv"/>'s layout.</summary>
        public void SetValidKv(int index, int row, float[] values)
        {
            var dh = _manifest.HeadDim;
            var length = values.Length / (_manifest.NumKeyValueHeads * dh);
            var data = _kv[index].GetTensorMutableDataAsSpan<float>();
            for (var h = 0; h < _manifest.NumKeyValueHeads; h++)
            {
                values.AsSpan(h * length * dh, length * dh).CopyTo(data.Slice(HeadOffset(row, h)));
            }
        }

        private int HeadOffset(int row, int head) => ((row * _manifest.NumKeyValueHeads) + head) * _capacity * _manifest.HeadDim;

        public void Dispose()
        {
            _binding.Dispose();
            _logits.Dispose();
            foreach (var kv in _kv)
            {
                kv.Dispose();
            }
        }
    }

    public sealed class GraphsFixture : IDisposable
    {
        public GraphsFixture()
        {
            Manifest = ModelManifest.Load(RepositoryPaths.DefaultModel);
            Reference = ReferenceFile.Load(RepositoryPaths.DefaultModel);
            Gqa = Open(Manifest.OnnxFile);
            // ModelManifest does not model variants (yet): read the Optimum graph's file from model.json itself.
            using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(RepositoryPaths.DefaultModel, ModelManifest.FileName)));
            Optimum = Open(json.RootElement.GetProperty("variants").GetProperty("optimum").GetProperty("onnx_file").GetString()!);
        }

        public ModelManifest Manifest { get; }
        public ReferenceFile Reference { get; }
        /// <summary>model.onnx: GroupQueryAttention, past_present_share_buffer.</summary>
        public InferenceSession Gqa { get; }
        /// <summary>model.optimum.onnx: the Optimum decoder layout, past and present separate.</summary>
        public InferenceSession Optimum { get; }

        private static InferenceSession Open(string file)
        {
            using var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                IntraOpNumThreads = Math.Min(2, Environment.ProcessorCount),
            };
            return new InferenceSession(Path.Combine(RepositoryPaths.DefaultModel, file), options);
        }

        public void Dispose()
        {
            Gqa.Dispose();
            Optimum.Dispose();
        }
    }
}
