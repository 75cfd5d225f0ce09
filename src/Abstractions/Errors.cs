namespace AutoGlm.Orleans.Abstractions;

/// <summary>Base of the errors a conversation reports; they cross the wire with their type.</summary>
[GenerateSerializer]
[Alias("autoglm.conversation-exception.v1")]
public class ConversationException : Exception
{
    public ConversationException()
    {
    }

    public ConversationException(string message) : base(message)
    {
    }

    public ConversationException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The request cannot be served as asked (empty message, beyond the context window, bad options). Nothing changed.</summary>
[GenerateSerializer]
[Alias("autoglm.invalid-request-exception.v1")]
public sealed class InvalidConversationRequestException : ConversationException
{
    public InvalidConversationRequestException()
    {
    }

    public InvalidConversationRequestException(string message) : base(message)
    {
    }

    public InvalidConversationRequestException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>Another turn of the conversation is running: one turn at a time. Retry after it ends.</summary>
[GenerateSerializer]
[Alias("autoglm.conversation-busy-exception.v1")]
public sealed class ConversationBusyException : ConversationException
{
    public ConversationBusyException()
    {
    }

    public ConversationBusyException(string message) : base(message)
    {
    }

    public ConversationBusyException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The silo's engine is overloaded (its queue is full): retry later.</summary>
[GenerateSerializer]
[Alias("autoglm.server-overloaded-exception.v1")]
public sealed class ServerOverloadedException : ConversationException
{
    public ServerOverloadedException()
    {
    }

    public ServerOverloadedException(string message) : base(message)
    {
    }

    public ServerOverloadedException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}
