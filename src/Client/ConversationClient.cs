using System.Runtime.CompilerServices;
using AutoGlm.Orleans.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Orleans.Client;

/// <summary>
/// Typed access to conversations. A turn interrupted because its silo died (the reply was not stored) is retried
/// once with the same request id: the conversation re-activates on a live silo with its stored history.
/// </summary>
public sealed class ConversationClient(IGrainFactory grainFactory, ILogger<ConversationClient>? logger = null)
{
    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;

    /// <summary>How long to wait before the one retry of an interrupted turn (the cluster must notice the dead silo).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(3);

    public IConversationGrain Get(string conversationId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(conversationId);
        return grainFactory.GetGrain<IConversationGrain>(conversationId);
    }

    /// <summary>A new, unique request id (the idempotency key of one change).</summary>
    public static string NewRequestId() => Guid.NewGuid().ToString("N");

    /// <summary>
    /// Sends a message and streams the reply (<c>await foreach</c>). When the silo dies mid-reply the turn is
    /// retried once; the chunk that starts the retried reply has <see cref="ReplyChunk.Restarted"/> set.
    /// </summary>
    public async IAsyncEnumerable<ReplyChunk> SendStreamingAsync(string conversationId, string message,
        GenerationOptions? options = null, string? requestId = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        requestId ??= NewRequestId();
        var grain = Get(conversationId);
        for (var attempt = 0; ; attempt++)
        {
            var stream = grain.SendStreaming(requestId, message, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
            var restarted = attempt > 0;
            var retry = false;
            try
            {
                while (true)
                {
                    ReplyChunk chunk;
                    try
                    {
                        if (!await stream.MoveNextAsync())
                        {
                            yield break;
                        }

                        chunk = stream.Current;
                    }
                    catch (Exception ex) when (attempt == 0 && IsInterruption(ex) && !cancellationToken.IsCancellationRequested)
                    {
                        _logger.LogWarning(ex, "Reply {RequestId} of conversation {Conversation} was interrupted; retrying once",
                            requestId, conversationId);
                        retry = true;
                        break;
                    }

                    if (restarted)
                    {
                        chunk = chunk with { Restarted = true };
                        restarted = false;
                    }

                    yield return chunk;
                    if (chunk.IsFinal)
                    {
                        yield break;
                    }
                }
            }
            finally
            {
                try
                {
                    await stream.DisposeAsync();
                }
                catch (Exception ex) when (IsInterruption(ex))
                {
                    // The silo that held the stream is gone; nothing to dispose there.
                }
            }

            if (!retry)
            {
                yield break;
            }

            await Task.Delay(RetryDelay, cancellationToken);
        }
    }

    /// <summary>Sends a message and returns the stored reply; retried once when its silo dies.</summary>
    public async Task<ConversationReply> SendAsync(string conversationId, string message, GenerationOptions? options = null,
        string? requestId = null, CancellationToken cancellationToken = default)
    {
        requestId ??= NewRequestId();
        try
        {
            return await Get(conversationId).Send(requestId, message, options, cancellationToken);
        }
        catch (Exception ex) when (IsInterruption(ex) && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogWarning(ex, "Turn {RequestId} of conversation {Conversation} was interrupted; retrying once", requestId, conversationId);
            await Task.Delay(RetryDelay, cancellationToken);
            return await Get(conversationId).Send(requestId, message, options, cancellationToken);
        }
    }

    public Task<IReadOnlyList<ConversationMessage>> GetHistoryAsync(string conversationId) => Get(conversationId).GetHistory();

    public Task<ConversationStatus> GetStatusAsync(string conversationId) => Get(conversationId).GetStatus();

    public Task SetSystemPromptAsync(string conversationId, string? systemPrompt, string? requestId = null) =>
        Get(conversationId).SetSystemPrompt(requestId ?? NewRequestId(), systemPrompt);

    public Task SetDefaultOptionsAsync(string conversationId, GenerationOptions? options, string? requestId = null) =>
        Get(conversationId).SetDefaultOptions(requestId ?? NewRequestId(), options);

    public Task ResetAsync(string conversationId, string? requestId = null) => Get(conversationId).Reset(requestId ?? NewRequestId());

    public Task DeleteAsync(string conversationId, string? requestId = null) => Get(conversationId).Delete(requestId ?? NewRequestId());

    /// <summary>Stats of every silo's batcher.</summary>
    public async Task<IReadOnlyList<BatcherStats>> GetClusterStatsAsync()
    {
        var management = grainFactory.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetHosts(onlyActive: true);
        var stats = await Task.WhenAll(hosts.Keys.Select(silo => BatchingGrainKeys.ForSilo(grainFactory, silo).GetStats()));
        return stats;
    }

    /// <summary>Errors that mean the silo serving the call went away (the turn was not stored), not a bad request.</summary>
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
