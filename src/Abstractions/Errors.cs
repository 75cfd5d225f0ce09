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
public class InvalidConversationRequestException : ConversationException
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

/// <summary>The conversation does not exist (never created, deleted, or expired). Nothing changed.</summary>
[GenerateSerializer]
[Alias("autoglm.conversation-not-found-exception.v1")]
public sealed class ConversationNotFoundException : ConversationException
{
    public ConversationNotFoundException()
    {
    }

    public ConversationNotFoundException(string message) : base(message)
    {
    }

    public ConversationNotFoundException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>A create named a conversation that exists already (and was not created by the same request id).</summary>
[GenerateSerializer]
[Alias("autoglm.conversation-exists-exception.v1")]
public sealed class ConversationExistsException : ConversationException
{
    public ConversationExistsException()
    {
    }

    public ConversationExistsException(string message) : base(message)
    {
    }

    public ConversationExistsException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>A request id that was applied already came back with a different request (another message or options): a key names one request only.</summary>
[GenerateSerializer]
[Alias("autoglm.idempotency-key-reused-exception.v1")]
public sealed class IdempotencyKeyReusedException : ConversationException
{
    public IdempotencyKeyReusedException()
    {
    }

    public IdempotencyKeyReusedException(string message) : base(message)
    {
    }

    public IdempotencyKeyReusedException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The stored conversation changed under a running turn (another activation wrote it, or it was deleted or expired). The turn was not stored and the activation reloaded; a retry with the same request id runs on the stored state.</summary>
[GenerateSerializer]
[Alias("autoglm.conversation-changed-exception.v1")]
public sealed class ConversationChangedException : ConversationException
{
    public ConversationChangedException()
    {
    }

    public ConversationChangedException(string message) : base(message)
    {
    }

    public ConversationChangedException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The conversation store (Redis) cannot be reached or did not answer in time. Whether an interrupted write landed is settled on the next call, which reloads first: retry with the same request id.</summary>
[GenerateSerializer]
[Alias("autoglm.storage-unavailable-exception.v1")]
public sealed class StorageUnavailableException : ConversationException
{
    public StorageUnavailableException()
    {
    }

    public StorageUnavailableException(string message) : base(message)
    {
    }

    public StorageUnavailableException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The silo holding the conversation is shutting down: the activation is leaving and the next call places the conversation on another silo. Nothing changed; retry at once with the same request id.</summary>
[GenerateSerializer]
[Alias("autoglm.conversation-moved-exception.v1")]
public sealed class ConversationMovedException : ConversationException
{
    public ConversationMovedException()
    {
    }

    public ConversationMovedException(string message) : base(message)
    {
    }

    public ConversationMovedException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The turn stopped before its reply was stored (its silo is shutting down, or it was cancelled for another caller). Nothing was stored; retry with the same request id.</summary>
[GenerateSerializer]
[Alias("autoglm.turn-interrupted-exception.v1")]
public sealed class TurnInterruptedException : ConversationException
{
    public TurnInterruptedException()
    {
    }

    public TurnInterruptedException(string message) : base(message)
    {
    }

    public TurnInterruptedException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>The caller's key may not make this call (a tenant key on an operator's grain, or no key at all).</summary>
[GenerateSerializer]
[Alias("autoglm.access-denied-exception.v1")]
public sealed class AccessDeniedException : ConversationException
{
    public AccessDeniedException()
    {
    }

    public AccessDeniedException(string message) : base(message)
    {
    }

    public AccessDeniedException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}

/// <summary>
/// The turn does not fit the model's context window and the conversation's truncation is disabled (OpenAI's
/// <c>context_length_exceeded</c>). Nothing changed: send a shorter message, ask for fewer tokens, reset the
/// conversation, or turn truncation to auto.
/// </summary>
[GenerateSerializer]
[Alias("autoglm.context-length-exceeded-exception.v1")]
public sealed class ContextLengthExceededException : InvalidConversationRequestException
{
    public ContextLengthExceededException()
    {
    }

    public ContextLengthExceededException(string message) : base(message)
    {
    }

    public ContextLengthExceededException(string message, Exception? innerException) : base(message, innerException)
    {
    }
}
