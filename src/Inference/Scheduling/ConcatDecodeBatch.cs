using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The decode batch of an Optimum-layout graph (present = Concat(past, new)): the running rows' KV is resident in batch tensors [B,H,P,Dh] between steps: each step's presents
/// are the next step's past as they are, with no copy. Rows of different lengths are left-padded (mask 0,
/// zeroed KV). The batch is re-packed only when its membership changes: a row joining brings its KV from its
/// handle; a row leaving takes its KV back to its handle.
/// </summary>
internal sealed class ConcatDecodeBatch : IDecodeBatch
{
    private readonly ModelRunner _runner;
    private readonly KvLayout _layout;
    private readonly KvCachePool _pool;
    private readonly List<ActiveRequest> _rows = [];
    private readonly List<ActiveRequest> _joining = [];
    private readonly List<int> _padding = [];
    // Each row's index in the batch tensors: rows that left since the last re-pack leave gaps behind.
    private readonly List<int> _slots = [];
    private OrtValue[]? _past;
    private int _pastLength;
    // The rows the past tensors were made for (rows that left keep their slots until the next re-pack).
    private int _pastRows;
    private bool _dirty;
    private readonly StepInputs _inputs = new();

    /// <summary>The batch tensors' memory is charged to <paramref name="pool"/> as they are made and freed.</summary>
    public ConcatDecodeBatch(ModelRunner runner, KvCachePool pool)
    {
        _runner = runner;
        _layout = KvLayout.For(runner.Manifest);
        _pool = pool;
    }

    /// <summary>Rows in the next step, joiners included.</summary>
    public int Count => _rows.Count + _joining.Count;

    /// <summary>Rows of the last step's result, in row order.</summary>
    public IReadOnlyList<ActiveRequest> Rows => _rows;

    /// <summary>Rows that join at the next step.</summary>
    public IReadOnlyList<ActiveRequest> Joining => _joining;

    /// <summary>How many times the batch tensors were re-packed (membership changes).</summary>
    public long Repacks { get; private set; }

    /// <summary>Adds a row whose KV (prompt prefilled) is in its handle; it decodes from the next step.</summary>
    public void Join(ActiveRequest request) => _joining.Add(request);

    /// <summary>Removes a row; its KV goes back to its handle so the sequence keeps what it computed.</summary>
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

        var valid = request.Handle.CachedTokenCount;
        request.Handle.SetLayers(_layout.Slice(_past!, _slots[row], _padding[row], valid));
        _rows.RemoveAt(row);
        _padding.RemoveAt(row);
        _slots.RemoveAt(row);
        if (_rows.Count == 0)
        {
            DisposePast();
        }
        else
        {
            // The remaining rows are re-packed (and their padding trimmed) before the next step.
            _dirty = true;
        }
    }

    /// <summary>Runs one decode step over every row: feeds each row's pending token.</summary>
    public IStepLogits Step()
    {
        if (_joining.Count > 0 || _dirty)
        {
            Repack();
        }

        var batch = _rows.Count;
        var total = _pastLength + 1;
        _inputs.Reserve(batch, 1, total);
        var ids = _inputs.Ids;
        var positions = _inputs.Positions;
        for (var r = 0; r < batch; r++)
        {
            var row = _rows[r];
            ids[r] = row.PendingToken;
            positions[r] = row.Handle.CachedTokenCount;
            var mask = _inputs.Mask.Slice(r * total, total);
            mask[.._padding[r]].Clear();
            mask[_padding[r]..].Fill(1);
        }

        using var inputs = _inputs.Values();
        var result = _runner.Forward(inputs.InputIds, inputs.AttentionMask, inputs.PositionIds, _past!);

        // The presents become the past; the old past dies only now that the run has used it.
        var rows = _pastRows;
        DisposePast();
        SetPast(result.TakePresents(), rows, total);
        foreach (var row in _rows)
        {
            row.Handle.TokenList.Add(row.PendingToken);
        }

        return result;
    }

    private void Repack()
    {
        var members = new List<ActiveRequest>(_rows.Count + _joining.Count);
        members.AddRange(_rows);
        members.AddRange(_joining);
        var length = 0;
        foreach (var m in members)
        {
            length = Math.Max(length, m.Handle.CachedTokenCount);
        }

        var count = _runner.KvTensorCount;
        var past = new OrtValue[count];
        var padding = new List<int>(members.Count);
        for (var i = 0; i < count; i++)
        {
            past[i] = _layout.Allocate(members.Count, length);
        }

        for (var r = 0; r < members.Count; r++)
        {
            var member = members[r];
            var valid = member.Handle.CachedTokenCount;
            var pad = length - valid;
            padding.Add(pad);
            var oldRow = r < _rows.Count ? _slots[r] : -1;
            for (var i = 0; i < count; i++)
            {
                _layout.Clear(past[i], r, 0, pad);
                if (oldRow >= 0)
                {
                    _layout.Copy(_past![i], oldRow, _padding[r], past[i], r, pad, valid);
                }
                else
                {
                    _layout.Copy(member.Handle.Layers![i], 0, 0, past[i], r, pad, valid);
                }
            }

            if (oldRow < 0)
            {
                // The KV now lives in the batch; the handle's own copy would be a hidden duplicate.
                member.Handle.SetLayers(null);
            }
        }

        DisposePast();
        SetPast(past, members.Count, length);
        _rows.Clear();
        _rows.AddRange(members);
        _padding.Clear();
        _padding.AddRange(padding);
        _slots.Clear();
        for (var r = 0; r < members.Count; r++)
        {
            _slots.Add(r);
        }

        _joining.Clear();
        _dirty = false;
        Repacks++;
    }


    private void SetPast(OrtValue[] past, int rows, int length)
    {
        _past = past;
        _pastRows = rows;
        _pastLength = length;
        _pool.Charge(null, (long)rows * length * _pool.BytesPerToken);
    }

    private void DisposePast()
    {
        if (_past is null)
        {
            return;
        }

        foreach (var tensor in _past)
        {
            tensor.Dispose();
        }

        _pool.Charge(null, -(long)_pastRows * _pastLength * _pool.BytesPerToken);
        _past = null;
        _pastRows = 0;
        _pastLength = 0;
    }

    /// <summary>Forgets every row without saving its KV (after a failed forward, when it may be inconsistent).</summary>
    public void Reset()
    {
        DisposePast();
        _rows.Clear();
        _joining.Clear();
        _padding.Clear();
        _slots.Clear();
        _dirty = false;
    }

    public void Dispose() => DisposePast();
}
