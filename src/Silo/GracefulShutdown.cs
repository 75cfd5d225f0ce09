using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains;
using Microsoft.Extensions.Options;

namespace AutoGlm.Orleans.Silo;

/// <summary>
/// SIGTERM, before anything else stops: the silo stops taking new turns at once (/healthz answers 503, placement
/// skips it, HTTP turns are refused with a retryable 503, its idle conversations leave so their next turns
/// activate on other silos), running turns get <see cref="ConversationOptions.ShutdownDeadline"/> to finish, and
/// what is still running then ends with an explicit error. Only then do Kestrel and the Orleans silo stop.
/// </summary>
public sealed class GracefulShutdown(SiloDrain drain, LocalConversations conversations, IGrainFactory grains,
    IOptions<ConversationOptions> options, ILogger<GracefulShutdown> logger) : IHostedLifecycleService
{
    private static readonly TimeSpan ErrorFlushTime = TimeSpan.FromMilliseconds(500);

    // A turn leaves the drain's count as its reader detaches, a moment before its error reaches the caller's silo.
    private static readonly TimeSpan ResponseFlushTime = TimeSpan.FromSeconds(1);

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        drain.Begin();
        var ids = conversations.Snapshot();
        logger.LogInformation("Shutting down: {Conversations} conversations leave, {Running} turns running", ids.Count, drain.Running);
        await Task.WhenAll(ids.Select(LeaveAsync));

        var deadline = options.Value.ShutdownDeadline;
        if (await drain.WaitForRunningAsync(deadline, cancellationToken))
        {
            return;
        }

        logger.LogWarning("Shutting down: {Running} turns did not finish within {Deadline}; they end with an error", drain.Running, deadline);
        drain.InterruptAll(new TurnInterruptedException("the silo serving this turn is shutting down; nothing was stored, retry with the same Idempotency-Key"));
        await drain.WaitForRunningAsync(ErrorFlushTime, cancellationToken);
        await Task.Delay(ResponseFlushTime, cancellationToken);
    }

    private async Task LeaveAsync(string conversationId)
    {
        try
        {
            await grains.GetGrain<IConversationGrain>(conversationId).Leave().WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            logger.LogDebug(ex, "Conversation {Conversation} did not answer the shutdown", conversationId);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
