namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>How the body of a 200 ended: an SSE stream's end marker, or a body (JSON too) that broke off.</summary>
public enum StreamEnd
{
    /// <summary>Not a stream, or no 200.</summary>
    None,

    /// <summary>data: [DONE].</summary>
    Done,

    /// <summary>data: {"error": …} and the end of the body.</summary>
    ErrorEvent,

    /// <summary>The body ended cleanly with neither: the client cannot tell a cut reply from a complete one.</summary>
    EndedWithoutDone,

    /// <summary>The connection broke mid-body (reset, premature end, the client's timeout): JSON or SSE.</summary>
    Broken,
}
