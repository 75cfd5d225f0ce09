using AutoGlm.Orleans.Inference.Runtime;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// The running decode rows and their KV between steps. Rows join after their prefill and leave when they
/// finish; a leaving row's KV goes back to its handle so the sequence keeps what it computed.
/// </summary>
internal interface IDecodeBatch : IDisposable
{
    /// <summary>Rows in the next step, joiners included.</summary>
    int Count { get; }

    /// <summary>Rows of the last step's result, in row order.</summary>
    IReadOnlyList<ActiveRequest> Rows { get; }

    /// <summary>Rows that join at the next step.</summary>
    IReadOnlyList<ActiveRequest> Joining { get; }

    /// <summary>How many times rows' KV was moved because the membership changed.</summary>
    long Repacks { get; }

    /// <summary>Adds a row whose KV (prompt prefilled) is in its handle; it decodes from the next step.</summary>
    void Join(ActiveRequest request);

    /// <summary>Removes a row; its KV goes back to its handle.</summary>
    void Leave(ActiveRequest request);

    /// <summary>Runs one decode step over every row, feeding each row's pending token.</summary>
    IStepLogits Step();

    /// <summary>Forgets every row without saving its KV (after a failed forward, when it may be inconsistent).</summary>
    void Reset();
}
