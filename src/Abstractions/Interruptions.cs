namespace AutoGlm.Orleans.Abstractions;

/// <summary>Which failures of a grain call mean its silo went away (nothing the request did is at fault), for every caller's retry.</summary>
public static class Interruptions
{
    /// <summary>The silo serving the call went away or stopped answering: the turn was not stored, a retry with the same id is safe.</summary>
    public static bool IsInterruption(Exception exception) => exception switch
    {
        ConversationException => false,
        EnumerationAbortedException => true,
        SiloUnavailableException => true,
        OrleansMessageRejectionException => true,
        TimeoutException => true,
        global::Orleans.Runtime.Messaging.ConnectionFailedException => true,
        OrleansException { InnerException: { } inner } => IsInterruption(inner),
        _ => false,
    };
}
