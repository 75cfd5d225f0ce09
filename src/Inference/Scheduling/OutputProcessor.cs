using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.Metrics;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// What a sampled token does to its request (vLLM's output processor and its stop checks): stop tokens, the text it
/// completes (incremental detokenizing), stop sequences over that text, max tokens, and the chunk streamed to the
/// caller. The one place to look for which tokens a step emitted. It runs on the scheduler's thread right after
/// each row is sampled, before the next forward: a stop (token, sequence or length) must be known before the row
/// is fed again, and streaming each row as soon as it is sampled lets its consumer run on the core ONNX Runtime
/// leaves idle between forwards. A token costs a short decode, a few span searches and a channel write, and
/// allocates nothing: the chunk is a value over the request's own text.
/// </summary>
internal sealed class OutputProcessor(EngineMetrics metrics)
{
    /// <summary>
    /// Applies <paramref name="token"/>, sampled for <paramref name="request"/> at <paramref name="now"/>; returns why
    /// the generation ends when it does, the text its final chunk carries set in <see cref="ActiveRequest.FinalText"/>.
    /// </summary>
    public FinishReason? Process(ActiveRequest request, int token, long now)
    {
        if (request.FirstTokenTimestamp == 0)
        {
            request.FirstTokenTimestamp = now;
            metrics.FirstToken(Stopwatch.GetElapsedTime(request.EnqueuedTimestamp, now).TotalSeconds);
            metrics.Token(-1);
        }
        else
        {
            metrics.Token(Stopwatch.GetElapsedTime(request.LastTokenTimestamp, now).TotalSeconds);
        }

        request.LastTokenTimestamp = now;
        if (request.IsStopToken(token))
        {
            request.FinalText = Flush(request);
            return FinishReason.Stop;
        }

        request.Generated++;
        request.Context.Add(token);
        request.PendingToken = token;
        var text = request.Text;
        text.Append(request.Detokenizer.Push(token));
        var matcher = request.StopMatcher;
        var releasable = matcher?.Releasable(text.Held) ?? text.Held.Length;
        request.Output.Writer.TryWrite(new GenerationChunk(token, text.Release(releasable)));
        if (matcher is { Stopped: true })
        {
            text.DropHeld();
            return FinishReason.StopSequence;
        }

        if (request.Generated >= request.MaxNewTokens)
        {
            request.FinalText = Flush(request);
            return FinishReason.Length;
        }

        return null;
    }

    /// <summary>The end of the text: what the detokenizer and the stop matcher still held, up to a stop string in it.</summary>
    private static ReadOnlyMemory<char> Flush(ActiveRequest request)
    {
        var text = request.Text;
        text.Append(request.Detokenizer.Flush());
        var final = text.Release(request.StopMatcher?.Releasable(text.Held, final: true) ?? text.Held.Length);
        text.DropHeld();
        return final;
    }
}
