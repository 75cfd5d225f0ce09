using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The decode batch of a shared-buffer graph. The rows' KV sits in one <see cref="KvBlock"/> on the device, row r
/// in block row r, right-padded (each row's valid length is its mask's row sum). A step writes every row's new
/// token in place: no per-step copy at all. A joining row brings its KV from its handle's block; a leaving row
/// takes its KV back to a block of its own and the last row moves into its place, so rows stay packed at the
/// block's start and a batch of n runs on a view of the first n rows. The forward's inputs and outputs are bound
/// once per shape (rows × block) and the attention mask is as wide as the block (the graph reads each row's length
/// from its sum, and attends to that many positions only), so a step writes each row's token, position and one
/// mask entry, and runs.
/// </summary>
internal sealed class SharedBufferDecodeBatch : IDecodeBatch
{
    /// <summary>Sequence capacity added beyond the longest row when the block grows, so growth is rare.</summary>
    private const int Headroom = 256;

    /// <summary>Spare capacity a leaving row's own block gets, for the next turn's new tokens.</summary>
    internal const int LeaveHeadroom = 128;

    private readonly ModelRunner _runner;
    private readonly KvMemory _memory;
    private readonly KvCachePool _pool;
    private readonly int _maxRows;
    private readonly HostLogits _logits;
    private readonly List<ActiveRequest> _rows = [];
    private readonly List<ActiveRequest> _joining = [];
    private KvBlock? _block;
    private readonly DecodeInputs _inputs = new();
    private BoundForward? _bound;

    public SharedBufferDecodeBatch(ModelRunner runner, KvMemory memory, KvCachePool pool, int maxRows)
    {
        _runner = runner;
        _memory = memory;
        _pool = pool;
        _maxRows = maxRows;
        _logits = new HostLogits(runner.Manifest.VocabSize, lastOnly: true);
    }

    public int Count => _rows.Count + _joining.Count;

    public IReadOnlyList<ActiveRequest> Rows => _rows;

    public IReadOnlyList<ActiveRequest> Joining => _joining;

    public long Repacks { get; private set; }

    /// <summary>The block's rows × capacity, for tests and profiling.</summary>
    internal (int Rows, int Capacity) BlockShape => _block is null ? (0, 0) : (_block.Rows, _block.Capacity);

    public void Join(ActiveRequest request) => _joining.Add(request);

    public void Leave(ActiveRequest request)
    {
        if (_joining.Remove(request))
        {
            return;
        }

        var row = _rows.IndexOf(request);
        if (row < 0)
        {
            return;
        }

        var block = _block!;
        var handle = request.Handle;
        var valid = handle.CachedTokenCount;
        var own = _memory.Allocate(1, SharedBufferKvStrategy.Sized(_pool, valid,
            SharedBufferKvStrategy.CapacityFor(valid + LeaveHeadroom, _runner.Manifest.ContextLength)));
        _memory.Copy(block, row, 0, own, 0, 0, valid);
        handle.SetBlock(own);
        var last = _rows.Count - 1;
        if (row != last)
        {
            _memory.Copy(block, last, 0, block, row, 0, _rows[last].Handle.CachedTokenCount);
            _rows[row] = _rows[last];
        }

        _rows.RemoveAt(last);
        Repacks++;
        Unbind(); // the rows moved: their masks are bound anew
        if (Count == 0)
        {
            DisposeBlock();
        }
    }

    public IStepLogits Step()
    {
        // Every member's length, joiners included: the block must hold the longest one plus this step's token.
        var longest = 0;
        foreach (var row in _rows)
        {
            longest = Math.Max(longest, row.Handle.CachedTokenCount);
        }

        foreach (var joiner in _joining)
        {
            longest = Math.Max(longest, joiner.Handle.CachedTokenCount);
        }

        var total = longest + 1;
        EnsureBlock(Count, total);
        if (_joining.Count > 0)
        {
            Admit();
        }

        var batch = _rows.Count;
        if (_bound is null || _inputs.Rows != batch)
        {
            Rebind(batch);
        }

        var ids = _inputs.Ids;
        var positions = _inputs.Positions;
        for (var r = 0; r < batch; r++)
        {
            var row = _rows[r];
            var length = row.Handle.CachedTokenCount;
            ids[r] = row.PendingToken;
            positions[r] = length;
            // Positions before it were set when the row was bound or in earlier steps; the new token's is set now.
            _inputs.MaskRow(r)[length] = 1;
        }

        _bound!.Run();
        foreach (var row in _rows)
        {
            row.Handle.TokenList.Add(row.PendingToken);
        }

        return _logits;
    }

    /// <summary>Binds the forward for <paramref name="batch"/> rows of the current block, each row's mask set to its length.</summary>
    private void Rebind(int batch)
    {
        Unbind();
        var block = _block!;
        _inputs.Reshape(batch, block.Capacity, _runner.Manifest.ContextLength);
        for (var r = 0; r < batch; r++)
        {
            _inputs.MaskRow(r)[.._rows[r].Handle.CachedTokenCount].Fill(1);
        }

        _bound = _runner.Bind(_inputs.InputIds, _inputs.AttentionMask, _inputs.PositionIds, block.Views(batch), _logits.For(batch, 1));
    }

    private void Unbind()
    {
        _bound?.Dispose();
        _bound = null;
    }

    /// <summary>Moves the joiners' KV from their handles' blocks into the rows after the current ones.</summary>
    private void Admit()
    {
        foreach (var joiner in _joining)
        {
            var handle = joiner.Handle;
            _memory.Copy(handle.Block!, 0, 0, _block!, _rows.Count, 0, handle.CachedTokenCount);
            // The KV now lives in the batch; the handle's own copy would be a hidden duplicate.
            handle.SetBlock(null);
            _rows.Add(joiner);
        }

        _joining.Clear();
        Repacks++;
        Unbind();
    }

    /// <summary>
    /// Grows the block (moving the current rows) when it has too few rows or too little capacity: exactly what the
    /// step needs, plus headroom (positions past the longest row, spare rows for joiners) as far as the budget has
    /// room for, so growth is rare when memory is plenty and never pushes the budget when it is not.
    /// </summary>
    private void EnsureBlock(int rows, int capacity)
    {
        if (_block is { } current && current.Rows >= rows && current.Capacity >= capacity)
        {
            return;
        }

        var context = _runner.Manifest.ContextLength;
        if (capacity > context)
        {
            throw new InvalidOperationException($"a decode row needs {capacity} positions; the model's context is {context}");
        }

        // The batch's memory is its running rows': it may grow into what their reservations hold for them. Headroom
        // is what the budget has room for once the required part (net of the old block, freed after the copy) counts.
        var bytesPerToken = _pool.BytesPerToken;
        var oldBytes = _block?.Bytes ?? 0;
        var newCapacity = Math.Max(_block?.Capacity ?? 0, capacity);
        var wantedCapacity = Math.Max(newCapacity, SharedBufferKvStrategy.CapacityFor(capacity + Headroom, context));
        var growth = Math.Max(0, (long)rows * newCapacity * bytesPerToken - oldBytes);
        var granted = Math.Max(0, _pool.Headroom(growth + (long)rows * (wantedCapacity - newCapacity) * bytesPerToken, covered: true) - growth);
        newCapacity += (int)(granted / (rows * bytesPerToken));
        var wantedRows = Math.Max(rows, Math.Min(_maxRows, Math.Max(4, (_block?.Rows ?? 0) * 2)));
        growth = Math.Max(0, (long)rows * newCapacity * bytesPerToken - oldBytes);
        granted = Math.Max(0, _pool.Headroom(growth + (long)(wantedRows - rows) * newCapacity * bytesPerToken, covered: true) - growth);
        var newRows = rows + (int)(granted / (newCapacity * bytesPerToken));

        var grown = _memory.Allocate(newRows, newCapacity);
        _pool.Charge(null, grown.Bytes);
        Unbind(); // bound to the old block's views
        if (_block is { } old)
        {
            for (var r = 0; r < _rows.Count; r++)
            {
                _memory.Copy(old, r, 0, grown, r, 0, _rows[r].Handle.CachedTokenCount);
            }

            DisposeBlock();
        }

        _block = grown;
    }

    private void DisposeBlock()
    {
        Unbind();
        if (_block is { } block)
        {
            block.Dispose();
            _pool.Charge(null, -block.Bytes);
            _block = null;
        }
    }

    public void Reset()
    {
        DisposeBlock();
        _rows.Clear();
        _joining.Clear();
    }

    public void Dispose()
    {
        DisposeBlock();
        _inputs.Dispose();
        _logits.Release();
    }
}
