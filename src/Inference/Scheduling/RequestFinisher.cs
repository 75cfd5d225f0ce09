using System.Diagnostics;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The one way a request ends, whatever ends it: completed (a stop, a stop sequence, its length), cancelled,
/// failed, or refused before admission. It leaves the decode batch (its KV back to its handle) and the running set,
/// drops KV a failure may have left unlike its tokens, gives back its KV reservation, returns its handle to the pool
/// (idle, or released if that was asked meanwhile), ends its stream with a final chunk or the error, and counts it.
/// Each request ends exactly once: a second end of the same request does nothing.
/// </summary>
internal sealed class RequestFinisher(KvCachePool pool, IDecodeBatch batch, StepPlanner planner, EngineMetrics metrics)
{
    private static readonly string[] ReasonNames =
        [.. Enum.GetValues<FinishReason>().Select(r => r.ToString().ToLowerInvariant())];

    /// <summary>Ends <paramref name="request"/> as <paramref name="outcome"/> says; false when it had ended already.</summary>
    public bool Finish(ActiveRequest request, RequestOutcome outcome)
    {
        if (request.State == RequestState.Finished)
        {
            return false;
        }

        var admitted = request.State != RequestState.Waiting;
        if (admitted)
        {
            // First, while the request still counts as running: should this throw, the caller's failure path ends it.
            batch.Leave(request);
            planner.Forget(request);
        }

        request.State = RequestState.Finished;
        if (admitted && outcome.Error is not null)
        {
            // After a failed step the handle's KV may not match its tokens: forget it, the next turn recomputes.
            request.Handle.DropCache();
        }

        pool.Unreserve(request.ReservedBytes, request.Handle);
        request.ReservedBytes = 0;
        pool.Deactivate(request.Handle);
        request.CancellationRegistration.Dispose();
        request.Release();
        var writer = request.Output.Writer;
        string reason;
        if (outcome.Error is { } error)
        {
            writer.TryComplete(error);
            reason = admitted ? "error" : "refused";
        }
        else
        {
            var finish = outcome.Reason ?? FinishReason.Cancelled;
            writer.TryWrite(new GenerationChunk(null, request.FinalText, finish, request.Usage()));
            writer.TryComplete();
            reason = ReasonNames[(int)finish];
        }

        metrics.Finished(reason, Stopwatch.GetElapsedTime(request.EnqueuedTimestamp).TotalSeconds);
        return true;
    }
}
