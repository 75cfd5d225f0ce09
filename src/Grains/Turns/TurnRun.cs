using System.Text;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Turns;

/// <summary>
/// One running turn: the reply so far, who reads it, and how it ends. A producer (the grain) appends what the
/// engine streams and ends the run once; readers (the caller, and any retry of the same request id, which
/// attaches) each read the whole reply from its start. The run is cancelled when its last reader leaves, or when
/// every reader stopped pulling for the lease (its caller died: nobody asks for the next chunk), so a dead
/// caller never holds the conversation. Used on the grain's scheduler; only <see cref="Interrupt"/> may be
/// called from another thread.
/// </summary>
public sealed class TurnRun
{
    private readonly StringBuilder _text = new();
    private readonly List<int> _ids = [];
    private readonly List<TurnReader> _readers = [];
    private readonly TaskCompletionSource<TurnEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _cancel = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Exception? _interruption;
    private bool _unpublished;
    private long _publishedAt = -1;

    /// <param name="chunkWindow">
    /// After a reader's first chunk, the least time between two of its chunks while the reply is running: the tokens
    /// of that window go out as one chunk, so the chunk rate of a stream stays bounded however fast the engine
    /// decodes (the final chunk is never held back). Zero hands out every token as soon as it is read.
    /// </param>
    public TurnRun(string requestId, ulong fingerprint, TimeProvider time, TimeSpan chunkWindow = default)
    {
        RequestId = requestId;
        Fingerprint = fingerprint;
        Time = time;
        ChunkWindow = chunkWindow;
    }

    public string RequestId { get; }

    public ulong Fingerprint { get; }

    internal TimeProvider Time { get; }

    internal TimeSpan ChunkWindow { get; }

    /// <summary>Cancelled when the run must stop generating.</summary>
    public CancellationToken Cancellation => _cancel.Token;

    /// <summary>True once the run is stopping or stopped: a retry then waits for its end instead of attaching.</summary>
    public bool IsEnding => _cancel.IsCancellationRequested || _ended.Task.IsCompleted;

    public Task<TurnEnd> Ended => _ended.Task;

    /// <summary>Completes once the run ended and every reader left (its caller got the last chunk, or gave up).</summary>
    public Task Drained => _drained.Task;

    internal StringBuilder Text => _text;

    internal List<int> TokenIds => _ids;

    public string ReplyText => _text.ToString();

    public IReadOnlyList<int> ReplyTokenIds => _ids;

    public TurnReader Attach()
    {
        var reader = new TurnReader(this);
        _readers.Add(reader);
        return reader;
    }

    /// <summary>Adds one token's text and id; readers wake at the next <see cref="Publish"/>, once for all that was added.</summary>
    public void Add(ReadOnlySpan<char> text, int? tokenId)
    {
        _text.Append(text);
        if (tokenId is { } id)
        {
            _ids.Add(id);
        }

        _unpublished |= text.Length > 0 || tokenId is not null;
    }

    /// <summary>Wakes the readers when something was added since the last call.</summary>
    public void Publish()
    {
        if (_unpublished)
        {
            _unpublished = false;
            _publishedAt = Time.GetTimestamp();
            Signal();
        }
    }

    /// <summary>
    /// How long the producer should wait before publishing again so that publishes are a chunk window apart; null when
    /// nothing was published yet (the first token goes at once) or the window has passed.
    /// </summary>
    public TimeSpan? PublishDelay() => WindowLeft(_publishedAt);

    /// <summary>What is left of the chunk window that began at <paramref name="since"/> (a timestamp; negative: none began).</summary>
    internal TimeSpan? WindowLeft(long since)
    {
        if (since < 0 || ChunkWindow <= TimeSpan.Zero)
        {
            return null;
        }

        var left = ChunkWindow - Time.GetElapsedTime(since);
        return left > TimeSpan.Zero ? left : null;
    }

    public void Complete(ConversationReply reply) => End(TurnEnd.Completed(reply));

    public void Fail(Exception error) => End(TurnEnd.Failed(error));

    /// <summary>The producer saw the cancellation through: the run ends, with the interruption's reason if there was one.</summary>
    public void EndCancelled() => End(TurnEnd.Cancelled(_interruption));

    /// <summary>Stops the run because its callers are gone; nothing is stored.</summary>
    public void Cancel() => _cancel.Cancel();

    /// <summary>Stops the run for a reason its readers must hear (the silo shuts down). Thread-safe.</summary>
    public void Interrupt(Exception reason)
    {
        _interruption ??= reason;
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>True when no reader pulled for <paramref name="lease"/>: every one sits on a chunk its caller never asked past.</summary>
    public bool IsOrphaned(TimeSpan lease)
    {
        var now = Time.GetTimestamp();
        foreach (var reader in _readers)
        {
            if (!reader.IsParked || Time.GetElapsedTime(reader.ParkedSince, now) < lease)
            {
                return false;
            }
        }

        return true;
    }

    internal void Detach(TurnReader reader)
    {
        _readers.Remove(reader);
        if (_readers.Count > 0)
        {
            return;
        }

        if (_ended.Task.IsCompleted)
        {
            _drained.TrySetResult();
        }
        else
        {
            // The last caller left (cancelled, or its connection closed): nobody will read the reply.
            _cancel.Cancel();
        }
    }

    internal Task WaitForChangeAsync(CancellationToken cancellationToken) =>
        _ended.Task.IsCompleted ? Task.CompletedTask : _changed.Task.WaitAsync(cancellationToken);

    private void End(TurnEnd end)
    {
        if (_ended.TrySetResult(end))
        {
            Signal();
            if (_readers.Count == 0)
            {
                _drained.TrySetResult();
            }
        }
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }
}
