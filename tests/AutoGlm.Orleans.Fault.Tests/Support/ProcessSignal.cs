namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>The POSIX signals the harness sends (Linux numbers).</summary>
public enum ProcessSignal
{
    /// <summary>Graceful stop: the process may drain, flush and exit by itself.</summary>
    Term = 15,

    /// <summary>Immediate death: nothing runs after it, no buffer is flushed, no socket is closed politely.</summary>
    Kill = 9,
}
