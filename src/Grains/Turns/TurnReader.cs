using System.Runtime.ExceptionServices;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Grains.Turns;

/// <summary>
/// One caller's view of a <see cref="TurnRun"/>: what it has read so far, and whether it is parked on a chunk it
/// was handed (its caller has not asked for the next one) or waiting for more. The first read returns everything
/// produced before the reader attached, in one chunk.
/// </summary>
public sealed class TurnReader : IDisposable
{
    private readonly TurnRun _run;
    private int _textRead;
    private int _idsRead;
    private bool _finished;
    private long _handedAt = -1;
    private bool _disposed;

    internal TurnReader(TurnRun run) => _run = run;

    internal bool IsParked { get; private set; }

    internal long ParkedSince { get; private set; }

    /// <summary>How the run ended, once this reader reached its end.</summary>
    public TurnEnd? End { get; private set; }

    /// <summary>
    /// The next chunk: new text and ids, or the final chunk (finish reason, usage) once the reply is stored; null
    /// when the run ended without a reply (see <see cref="End"/>). A failed run throws its error.
    /// </summary>
    public async ValueTask<ReplyChunk?> NextAsync(CancellationToken cancellationToken)
    {
        IsParked = false;
        while (true)
        {
            if (_finished)
            {
                return null;
            }

            var ended = _run.Ended.IsCompleted ? _run.Ended.Result : null;
            var unread = _run.Text.Length > _textRead || _run.TokenIds.Count > _idsRead;
            if (unread && ended is null && HoldBack() is { } hold)
            {
                // Coalesce: the tokens of the window go out together; the end of the run cuts the wait short.
                await Task.WhenAny(_run.Ended, Task.Delay(hold, _run.Time, cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();
                continue;
            }

            if (ended is { IsCompleted: true } || (unread && ended is null))
            {
                var chunk = new ReplyChunk
                {
                    Text = _run.Text.ToString(_textRead, _run.Text.Length - _textRead),
                    TokenIds = _run.TokenIds.Count > _idsRead ? _run.TokenIds.GetRange(_idsRead, _run.TokenIds.Count - _idsRead) : null,
                    FinishReason = ended?.Reply!.FinishReason,
                    Usage = ended?.Reply!.Usage,
                    Silo = ended?.Reply!.Silo,
                };
                _textRead = _run.Text.Length;
                _idsRead = _run.TokenIds.Count;
                if (ended is not null)
                {
                    Finish(ended);
                }

                _handedAt = _run.Time.GetTimestamp();
                Park();
                return chunk;
            }

            if (ended is not null)
            {
                Finish(ended);
                if (ended.Error is { } error)
                {
                    ExceptionDispatchInfo.Throw(error);
                }

                return null;
            }

            await _run.WaitForChangeAsync(cancellationToken);
        }
    }

    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _run.Detach(this);
        }
    }

    /// <summary>How long the next chunk must wait to keep this reader's chunks a window apart; null: it may go now.</summary>
    private TimeSpan? HoldBack() => _run.WindowLeft(_handedAt);

    private void Finish(TurnEnd end)
    {
        _finished = true;
        End = end;
    }

    private void Park()
    {
        IsParked = true;
        ParkedSince = _run.Time.GetTimestamp();
    }
}
