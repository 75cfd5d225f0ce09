namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// When ONNX Runtime's intra-op threads spin (poll for work) instead of sleeping. A thread woken from sleep for
/// each parallel section costs microseconds; a forward of a small model has hundreds of short sections, so its
/// threads lose much of a step to wake-ups. Spinning burns a core while it waits, which a serving process needs
/// for the scheduler, the token streams and Orleans between forwards.
/// </summary>
public enum IntraOpSpinning
{
    /// <summary>Threads sleep whenever they run out of work (session.intra_op.allow_spinning = 0).</summary>
    Off,

    /// <summary>
    /// Threads spin between the parallel sections of a forward and stop the moment it returns
    /// (session.force_spinning_stop = 1): the wake-ups go, and the cores are free between steps.
    /// </summary>
    WithinRun,

    /// <summary>
    /// ONNX Runtime's default (and ONNX Runtime GenAI's): threads keep spinning after a forward returns (with ONNX
    /// Runtime's own spin count, 20–50 ms of a core each time on this project's 2-core machine).
    /// </summary>
    Always,
}
