using System.Threading.Channels;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Grains.Engine;

/// <summary>
/// A turn's generation on the silo's own engine, read by the conversation grain with no grain in between: the
/// engine's thread writes the tokens into a channel, the grain's turn reads them. Maps the engine's refusals onto
/// the typed contract errors callers retry or report.
/// </summary>
public static class LocalGeneration
{
    /// <summary>
    /// Queues <paramref name="work"/> and returns its token stream. A refused first turn leaves no KV handle behind.
    /// Cancelling <paramref name="cancellationToken"/> stops the generation at the engine's next step; the handle keeps its KV.
    /// </summary>
    public static ChannelReader<GenerationChunk> Start(InferenceEngine engine, EngineWork work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(work);
        var existed = engine.Pool.TryGet(work.SequenceId, out _);
        var handle = engine.GetOrCreateHandle(work.SequenceId);
        var request = new GenerationRequest(handle, work.PromptTokenIds, work.Options.ToSampling(defaultMaxNewTokens: 256))
        {
            StopTokenIds = work.Options.IgnoreEndOfTurn == true ? [] : null,
        };
        try
        {
            return engine.Submit(request, cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidGenerationRequestException or HandleBusyException or EngineOverloadedException)
        {
            if (!existed && handle.CachedTokenCount == 0)
            {
                handle.Dispose();
            }

            throw ex switch
            {
                InvalidGenerationRequestException => new InvalidConversationRequestException(ex.Message),
                HandleBusyException => new ConversationBusyException(ex.Message),
                _ => new ServerOverloadedException(ex.Message),
            };
        }
    }

    /// <summary>
    /// Waits for the next tokens. A request the engine refused after queueing it (it waited past the engine's queue
    /// limit) ends its stream with <see cref="EngineOverloadedException"/>: the same contract error as a full queue at
    /// submission, so callers see a retryable overload, not a server fault.
    /// </summary>
    public static async ValueTask<bool> WaitAsync(ChannelReader<GenerationChunk> reader)
    {
        try
        {
            // Not the turn's token: the engine ends a cancelled generation with a final chunk, which must be read.
            return await reader.WaitToReadAsync(CancellationToken.None);
        }
        catch (EngineOverloadedException ex)
        {
            throw new ServerOverloadedException(ex.Message);
        }
    }
}
