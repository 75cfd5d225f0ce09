using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The Optimum decoder layout: a forward returns present = Concat(past, new) as new tensors, so a sequence's KV
/// is the [1,H,T,Dh] tensors of its last forward, and a decode batch re-packs rows when membership changes.
/// </summary>
internal sealed class ConcatKvStrategy : IKvStrategy
{
    private readonly ModelRunner _runner;
    private readonly KvLayout _layout;
    private readonly ConcatDecodeBatch _batch;
    private long[] _ids = new long[256];
    private long[] _positions = new long[256];
    private long[] _mask = new long[1024];

    public ConcatKvStrategy(ModelRunner runner)
    {
        _runner = runner;
        _layout = KvLayout.For(runner.Manifest);
        _batch = new ConcatDecodeBatch(runner);
    }

    public IDecodeBatch Batch => _batch;

    public KvTraffic Traffic => new("Cpu", 0, 0);

    public IStepLogits Prefill(KvCacheHandle handle, ReadOnlySpan<int> chunk, int promptLength)
    {
        var past = handle.CachedTokenCount;
        var total = past + chunk.Length;
        EnsureCapacity(chunk.Length, total);
        for (var j = 0; j < chunk.Length; j++)
        {
            _ids[j] = chunk[j];
            _positions[j] = past + j;
        }

        _mask.AsSpan(0, total).Fill(1);
        OrtValue[]? empty = handle.Layers is null ? _runner.EmptyPast() : null;
        ForwardResult result;
        try
        {
            using var ids = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _ids.AsMemory(0, chunk.Length), [1, chunk.Length]);
            using var positions = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _positions.AsMemory(0, chunk.Length), [1, chunk.Length]);
            using var mask = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _mask.AsMemory(0, total), [1, total]);
            result = _runner.Forward(ids, mask, positions, empty ?? handle.Layers!);
        }
        finally
        {
            if (empty is not null)
            {
                foreach (var tensor in empty)
                {
                    tensor.Dispose();
                }
            }
        }

        handle.SetLayers(result.TakePresents());
        return result;
    }

    public void Truncate(KvCacheHandle handle, int keep) =>
        handle.SetLayers(_layout.Slice(handle.Layers!, 0, 0, keep));

    private void EnsureCapacity(int chunk, int total)
    {
        if (_ids.Length < chunk)
        {
            _ids = new long[Math.Max(chunk, _ids.Length * 2)];
            _positions = new long[_ids.Length];
        }

        if (_mask.Length < total)
        {
            _mask = new long[Math.Max(total, _mask.Length * 2)];
        }
    }

    public void Dispose() => _batch.Dispose();
}
