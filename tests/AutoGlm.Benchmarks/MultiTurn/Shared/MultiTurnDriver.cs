using System.Collections.Concurrent;
using System.Diagnostics;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// Plays a workload against a system the way vLLM's benchmarks/multi_turn clients do: C clients take
/// conversations from a shared queue and play each one turn after turn, sending the next message only once the
/// previous reply has fully arrived. Every timing is taken here, around <see cref="IChatSystem.SendAsync"/>.
/// </summary>
public static class MultiTurnDriver
{
    public static async Task<RunResult> RunAsync(IChatSystem system, IReadOnlyList<ConversationScript> conversations,
        int concurrency, ProgressDisplay progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(conversations);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(concurrency);
        var queue = new ConcurrentQueue<ConversationScript>(conversations);
        var records = new ConcurrentBag<TurnRecord>();
        var runStart = Stopwatch.GetTimestamp();
        var clients = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (queue.TryDequeue(out var conversation))
            {
                foreach (var turn in conversation.Turns)
                {
                    var record = await PlayTurnAsync(system, conversation.Id, turn, concurrency, runStart, cancellationToken)
                        .ConfigureAwait(false);
                    records.Add(record);
                    progress.TurnDone(record.OutputTokens, record.Error is not null);
                    if (record.Error is not null)
                    {
                        // The history is broken from here on: the rest of this conversation would measure nothing real.
                        break;
                    }
                }
            }
        }, cancellationToken)).ToArray();
        await Task.WhenAll(clients).ConfigureAwait(false);
        var wall = Stopwatch.GetElapsedTime(runStart).TotalSeconds;
        var ordered = records.OrderBy(r => r.StartMs).ToList();
        return new RunResult(concurrency, wall, ordered);
    }

    /// <summary>
    /// One short unmeasured turn, so first-run costs (ONNX Runtime's allocations, JIT) stay out of the numbers.
    /// </summary>
    public static async Task WarmUpAsync(IChatSystem system, ConversationScript sample, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(sample);
        var turn = sample.Turns[0] with { ReplyTokens = Math.Min(4, sample.Turns[0].ReplyTokens) };
        var record = await PlayTurnAsync(system, "warmup-" + sample.Id, turn, 1, Stopwatch.GetTimestamp(), cancellationToken)
            .ConfigureAwait(false);
        if (record.Error is not null)
        {
            throw new InvalidOperationException("warm-up turn failed: " + record.Error);
        }
    }

    private static async Task<TurnRecord> PlayTurnAsync(IChatSystem system, string conversationId, ChatTurn turn,
        int concurrency, long runStart, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var startMs = Stopwatch.GetElapsedTime(runStart, start).TotalMilliseconds;
        var itl = new List<double>(turn.ReplyTokens);
        double ttft = -1;
        var last = start;
        var tokens = 0;
        TurnUsage? usage = null;
        try
        {
            await foreach (var chunk in system.SendAsync(conversationId, turn, cancellationToken).ConfigureAwait(false))
            {
                var now = Stopwatch.GetTimestamp();
                if (chunk.Tokens > 0)
                {
                    if (tokens == 0)
                    {
                        ttft = Stopwatch.GetElapsedTime(start, now).TotalMilliseconds;
                        // The first token's own gap is the TTFT; any others in the same chunk arrived with it.
                        for (var i = 1; i < chunk.Tokens; i++)
                        {
                            itl.Add(0);
                        }
                    }
                    else
                    {
                        var gap = Stopwatch.GetElapsedTime(last, now).TotalMilliseconds / chunk.Tokens;
                        for (var i = 0; i < chunk.Tokens; i++)
                        {
                            itl.Add(gap);
                        }
                    }

                    tokens += chunk.Tokens;
                    last = now;
                }

                usage = chunk.Usage ?? usage;
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return new TurnRecord(conversationId, turn.Index, concurrency, startMs, ttft,
                Stopwatch.GetElapsedTime(start).TotalMilliseconds, [.. itl], 0, 0, tokens, $"{ex.GetType().Name}: {ex.Message}");
        }

        var e2e = Stopwatch.GetElapsedTime(start, last).TotalMilliseconds;
        var error = tokens != turn.ReplyTokens ? $"reply had {tokens} tokens, {turn.ReplyTokens} were asked" : null;
        return new TurnRecord(conversationId, turn.Index, concurrency, startMs, ttft, e2e, [.. itl],
            usage?.PromptTokens ?? 0, usage?.CachedTokens ?? 0, tokens, error);
    }
}
