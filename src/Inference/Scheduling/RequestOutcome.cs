using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// How a request ends: completed for a reason (its stream gets a final chunk) or with an error (its stream completes
/// with it). Whether its KV is trusted afterwards follows from where it was: an error after admission may leave the
/// handle's KV unlike its tokens, so that KV is dropped; a request refused before admission never touched it.
/// </summary>
internal readonly record struct RequestOutcome(FinishReason? Reason, Exception? Error)
{
    public static RequestOutcome Completed(FinishReason reason) => new(reason, null);

    public static RequestOutcome Failed(Exception error) => new(null, error);
}
