using System.Runtime.CompilerServices;
using AutoGlm.Orleans.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Orleans.Client;

/// <summary>
/// Typed access to conversations. A turn cut before its reply was stored (its silo died or is shutting down, or the
/// store was briefly away) is retried with the same request id, up to <see cref="MaxRetries"/> times: the
/// conversation re-activates on a live silo with its stored history, and a turn that did get stored is replayed.
/// </summary>
/// <remarks>
/// The client acts for one tenant: conversation ids are namespaced by it (<see cref="ConversationKeys"/>), and its API
/// key (required by silos that have a keys file) travels with every grain call.
/// </remarks>
public sealed class ConversationClient(IGrainFactory grainFactory, string tenant = ConversationKeys.DefaultTenant, string? apiKey = null,
    ILogger<ConversationClient>? logger = null)
{
    private static readonly TimeSpan MovedRetryDelay = TimeSpan.FromMilliseconds(100);

    private readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;

    public string Tenant { get; } = tenant;

    /// <summary>How long to wait before retrying a turn cut by a silo's death (the cluster must notice the dead silo).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How many times a cut turn is retried.</summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>The conversation's grain, for this client's tenant. Call <see cref="Authenticate"/> first in a flow that uses it directly.</summary>
    public IConversationGrain Get(string conversationId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(conversationId);
        Authenticate();
        return grainFactory.GetGrain<IConversationGrain>(Key(conversationId));
    }

    /// <summary>The grain key of one of this tenant's conversations (also its KV handle's id on the silos).</summary>
    public string Key(string conversationId) => ConversationKeys.For(Tenant, conversationId);

    /// <summary>Attaches this client's API key to the grain calls that follow in the current async flow.</summary>
    public void Authenticate() => TenantCredentials.Attach(apiKey);

    /// <summary>A new, unique request id (the idempotency key of one change).</summary>
    public static string NewRequestId() => Guid.NewGuid().ToString("N");

    /// <summary>
    /// Sends a message and streams the reply (<c>await foreach</c>). When the turn is cut it is retried with the
    /// same request id; the chunk that starts the retried reply has <see cref="ReplyChunk.Restarted"/> set.
    /// </summary>
    public async IAsyncEnumerable<ReplyChunk> SendStreamingAsync(string conversationId, string message,
        GenerationOptions? options = null, string? requestId = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = new TurnRequest(requestId ?? NewRequestId(), message, options);
        var grain = Get(conversationId);
        for (var attempt = 0; ; attempt++)
        {
            var stream = grain.SendStreaming(request, cancellationToken).GetAsyncEnumerator(cancellationToken);
            var restarted = attempt > 0;
            TimeSpan? retryAfter = null;
            try
            {
                while (true)
                {
                    ReplyChunk chunk;
                    try
                    {
                        // An iterator resumes in its consumer's context: attach the key again before each call.
                        Authenticate();
                        if (!await stream.MoveNextAsync())
                        {
                            yield break;
                        }

                        chunk = stream.Current;
                    }
                    catch (Exception ex) when (attempt < MaxRetries && RetryDelayFor(ex) is { } delay && !cancellationToken.IsCancellationRequested)
                    {
                        _logger.LogWarning(ex, "Reply {RequestId} of conversation {Conversation} was cut; retrying", request.RequestId, conversationId);
                        retryAfter = delay;
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
                    Authenticate();
                    await stream.DisposeAsync();
                }
                catch (Exception ex) when (Interruptions.IsInterruption(ex))
                {
                    // The silo that held the stream is gone; nothing to dispose there.
                }
            }

            if (retryAfter is not { } wait)
            {
                yield break;
            }

            await Task.Delay(wait, cancellationToken);
        }
    }

    /// <summary>Sends a message and returns the stored reply; a cut turn is retried with the same request id.</summary>
    public async Task<ConversationReply> SendAsync(string conversationId, string message, GenerationOptions? options = null,
        string? requestId = null, CancellationToken cancellationToken = default)
    {
        var request = new TurnRequest(requestId ?? NewRequestId(), message, options);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await Get(conversationId).Send(request, cancellationToken);
            }
            catch (Exception ex) when (attempt < MaxRetries && RetryDelayFor(ex) is { } delay && !cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning(ex, "Turn {RequestId} of conversation {Conversation} was cut; retrying", request.RequestId, conversationId);
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    public Task<IReadOnlyList<ConversationMessage>> GetHistoryAsync(string conversationId) => Get(conversationId).GetHistory();

    public Task<ConversationStatus> GetStatusAsync(string conversationId) => Get(conversationId).GetStatus();

    public Task CreateAsync(string conversationId, string? systemPrompt = null, string? requestId = null) =>
        Get(conversationId).Create(requestId ?? NewRequestId(), systemPrompt);

    public Task SetSystemPromptAsync(string conversationId, string? systemPrompt, string? requestId = null) =>
        Get(conversationId).SetSystemPrompt(requestId ?? NewRequestId(), systemPrompt);

    public Task SetDefaultOptionsAsync(string conversationId, GenerationOptions? options, string? requestId = null) =>
        Get(conversationId).SetDefaultOptions(requestId ?? NewRequestId(), options);

    public Task ResetAsync(string conversationId, string? requestId = null) => Get(conversationId).Reset(requestId ?? NewRequestId());

    public Task DeleteAsync(string conversationId, string? requestId = null) => Get(conversationId).Delete(requestId ?? NewRequestId());

    /// <summary>Stats of every silo's engine.</summary>
    public async Task<IReadOnlyList<BatcherStats>> GetClusterStatsAsync()
    {
        Authenticate();
        var management = grainFactory.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetHosts(onlyActive: true);
        var stats = await Task.WhenAll(hosts.Keys.Select(silo => SiloEngineGrainKeys.ForSilo(grainFactory, silo).GetStats()));
        return stats;
    }

    /// <summary>Errors that mean the silo serving the call went away (the turn was not stored), not a bad request.</summary>
    public static bool IsInterruption(Exception exception) => Interruptions.IsInterruption(exception);

    /// <summary>How long to wait before retrying a cut turn; null when the failure is not one a retry fixes.</summary>
    private TimeSpan? RetryDelayFor(Exception exception) => exception switch
    {
        ConversationMovedException => MovedRetryDelay,
        TurnInterruptedException or StorageUnavailableException => RetryDelay,
        _ when Interruptions.IsInterruption(exception) => RetryDelay,
        _ => null,
    };
}
