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
    private readonly StepInputs _inputs = new();

    public ConcatKvStrategy(ModelRunner runner, KvCachePool pool)
    {
        _runner = runner;
        _layout = KvLayout.For(runner.Manifest);
        _batch = new ConcatDecodeBatch(runner, pool);
    }

    public IDecodeBatch Batch => _batch;

    public KvTraffic Traffic => new("Cpu", 0, 0);

    public IStepLogits Prefill(KvCacheHandle handle, ReadOnlySpan<int> chunk, int promptLength)
    {
        _inputs.Prefill(chunk, handle.CachedTokenCount);
        OrtValue[]? empty = handle.Layers is null ? _runner.EmptyPast() : null;
        ForwardResult result;
        try
        {
            using var inputs = _inputs.Values();
            result = _runner.Forward(inputs.InputIds, inputs.AttentionMask, inputs.PositionIds, empty ?? handle.Layers!);
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

    /// <summary>An idle sequence's tensors hold exactly its tokens: there is no headroom to give back.</summary>
    public void Trim(KvCacheHandle handle)
    {
    }

    /// <summary>
    /// An idle sequence's KV is its [1,H,T,Dh] host tensors: the prefix is sliced into new [1,H,tokens,Dh] ones,
    /// one contiguous copy per head and tensor (the slice shares no state, so any thread may run it).
    /// </summary>
    public void CopyPrefix(KvCacheHandle source, KvCacheHandle target, int tokens)
    {
        var layers = source.Layers
            ?? throw new InvalidOperationException($"sequence {source.Id} caches {source.CachedTokenCount} tokens but holds no KV tensors");
        target.SetLayers(_layout.Slice(layers, 0, 0, tokens));
    }

    /// <summary>Each [1,H,T,Dh] host tensor's first tokens, head by head: the snapshot's order is this layout's own.</summary>
    public void Export(KvCacheHandle source, int tokens, Span<byte> destination)
    {
        var layers = source.Layers
            ?? throw new InvalidOperationException($"sequence {source.Id} caches {source.CachedTokenCount} tokens but holds no KV tensors");
        var headBytes = tokens * _layout.HeadDim * _layout.ElementSize;
        var offset = 0;
        foreach (var tensor in layers)
        {
            var length = KvLayout.LengthOf(tensor);
            if (length < tokens)
            {
                throw new InvalidOperationException($"sequence {source.Id}: a KV tensor holds {length} tokens, not {tokens}");
            }

            var data = tensor.GetTensorMutableRawData();
            for (var h = 0; h < _layout.Heads; h++, offset += headBytes)
            {
                data.Slice(h * length * _layout.HeadDim * _layout.ElementSize, headBytes).CopyTo(destination.Slice(offset, headBytes));
            }
        }
    }

    /// <summary>New [1,H,tokens,Dh] host tensors: each is one contiguous run of the snapshot, copied as it is.</summary>
    public void Import(KvCacheHandle target, int tokens, ReadOnlySpan<byte> source)
    {
        var tensorBytes = _layout.Heads * tokens * _layout.HeadDim * _layout.ElementSize;
        var layers = new OrtValue[_runner.KvTensorCount];
        try
        {
            for (var i = 0; i < layers.Length; i++)
            {
                layers[i] = _layout.Allocate(1, tokens);
                source.Slice(i * tensorBytes, tensorBytes).CopyTo(layers[i].GetTensorMutableRawData());
            }
        }
        catch
        {
            foreach (var tensor in layers)
            {
                tensor?.Dispose();
            }

            throw;
        }

        target.SetLayers(layers);
    }


    public void Dispose() => _batch.Dispose();
}
