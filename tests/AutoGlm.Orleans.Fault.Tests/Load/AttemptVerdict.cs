namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>What the client does after one attempt.</summary>
public enum AttemptVerdict
{
    /// <summary>A complete reply: the turn is acknowledged.</summary>
    Acknowledged,

    /// <summary>A connection failure, a timeout, a 5xx or 409, a broken stream: retry with the same key elsewhere.</summary>
    Retry,

    /// <summary>A 4xx other than 409: the request itself is refused, retrying cannot help.</summary>
    Refused,
}
