using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// POST /v1/chat/completions. The message list maps onto a conversation (see <see cref="ResolveAsync"/>) so a
/// stateless client's turn N reuses the KV of turns 1..N-1; the response names the conversation in the
/// <c>X-Conversation-Id</c> header.
/// </summary>
public sealed class ChatCompletionsEndpoint(IGrainFactory grains, ConversationIndex index, InferenceEngine engine, ILogger<ChatCompletionsEndpoint> logger)
{
    public const string ConversationHeader = "X-Conversation-Id";
    public const int MaxConversationIdLength = 128;

    public async Task HandleAsync(HttpContext context)
    {
        var request = ChatRequestMapping.Map(await RequestBodies.ReadAsync(context.Request, HttpJsonContext.Default.ChatCompletionRequest));
        if (!string.Equals(request.Model, engine.Manifest.Name, StringComparison.Ordinal))
        {
            throw new HttpApiException(StatusCodes.Status404NotFound, "model_not_found",
                $"the model '{request.Model}' does not exist; this server serves '{engine.Manifest.Name}' (GET /v1/models)", "model");
        }

        var resolved = await ResolveAsync(context, request);
        var grain = grains.GetGrain<IConversationGrain>(resolved.ConversationId);
        var requestId = "oai-" + Guid.NewGuid().ToString("N");
        var completionId = "chatcmpl-" + Guid.NewGuid().ToString("N");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        context.Response.Headers[ConversationHeader] = resolved.ConversationId;
        var ct = context.RequestAborted;
        var completed = false;
        try
        {
            await using var chunks = grain.SendStreaming(requestId, request.UserMessage, request.Options, ct).GetAsyncEnumerator(ct);
            // The first chunk before any byte is written: a refusal (busy, too long, overloaded) is still a JSON error.
            var has = await chunks.MoveNextAsync();
            var text = new System.Text.StringBuilder();
            ReplyChunk? final = null;
            ServerSentEvents? events = null;
            if (request.Stream)
            {
                events = new ServerSentEvents(context.Response);
                events.Start();
                await events.WriteAsync(Chunk(new ChatCompletionDelta(Role: "assistant", Content: string.Empty), null),
                    HttpJsonContext.Default.ChatCompletionChunk, ct);
            }

            while (has)
            {
                var chunk = chunks.Current;
                text.Append(chunk.Text);
                if (events is not null && chunk.Text.Length > 0)
                {
                    await events.WriteAsync(Chunk(new ChatCompletionDelta(Content: chunk.Text), null), HttpJsonContext.Default.ChatCompletionChunk, ct);
                }

                if (chunk.IsFinal)
                {
                    final = chunk;
                    break;
                }

                has = await chunks.MoveNextAsync();
            }

            if (final is null || final.FinishReason == ReplyFinishReason.Cancelled)
            {
                return;
            }

            completed = true;
            var reply = text.ToString();
            await RegisterAsync(resolved, request.UserMessage, reply);
            var usage = final.Usage.ToOpenAi();
            if (events is not null)
            {
                await events.WriteAsync(Chunk(new ChatCompletionDelta(), final.FinishReason.ToOpenAi()), HttpJsonContext.Default.ChatCompletionChunk, ct);
                if (request.IncludeUsage)
                {
                    await events.WriteAsync(new ChatCompletionChunk(completionId, "chat.completion.chunk", created, request.Model, [], usage),
                        HttpJsonContext.Default.ChatCompletionChunk, ct);
                }

                await events.WriteDoneAsync(ct);
                return;
            }

            await context.Response.WriteAsJsonAsync(new ChatCompletion(completionId, "chat.completion", created, request.Model,
                    [new ChatCompletionChoice(0, new ChatCompletionResponseMessage("assistant", reply), final.FinishReason.ToOpenAi())], usage),
                HttpJsonContext.Default.ChatCompletion, contentType: "application/json", cancellationToken: ct);
        }
        catch (Exception ex) when (context.Response.HasStarted && !ct.IsCancellationRequested)
        {
            // Mid-stream: the status is sent; tell the client in the stream, as OpenAI does.
            ErrorResponses.TryClassify(ex, out _, out var code, out var message, out _);
            logger.LogWarning(ex, "Streaming reply of {Conversation} failed", resolved.ConversationId);
            await new ServerSentEvents(context.Response).WriteAsync(
                new ErrorBody(new ErrorDetail(message, "server_error", null, code)), HttpJsonContext.Default.ErrorBody, CancellationToken.None);
        }
        finally
        {
            if (!completed && resolved.Claimed)
            {
                // The turn did not happen: give the entry back so the client's retry continues the same conversation.
                await index.PutAsync(resolved.History, resolved.ConversationId);
            }
        }

        ChatCompletionChunk Chunk(ChatCompletionDelta delta, string? finish) =>
            new(completionId, "chat.completion.chunk", created, request.Model, [new ChatCompletionChunkChoice(0, delta, finish)]);
    }

    /// <summary>
    /// Which conversation serves the request, and what it holds before the turn.
    /// <list type="bullet">
    /// <item>With <c>X-Conversation-Id</c>: that conversation. A request of only the new user message (and perhaps a
    /// system message) continues whatever it holds; a longer one must repeat its stored history exactly (409
    /// <c>conversation_mismatch</c> otherwise). An empty or unknown conversation is created from the request's history.</item>
    /// <item>Without: the index entry for the request's history (messages minus the last user message) is claimed
    /// atomically; it is re-keyed to the new history when the turn completes. A second request with the same
    /// history (a fork, or a concurrent duplicate) finds no entry and starts a new conversation seeded with it.</item>
    /// </list>
    /// </summary>
    private async Task<Resolved> ResolveAsync(HttpContext context, MappedChatRequest request)
    {
        var prefix = request.Prefix;
        if (context.Request.Headers[ConversationHeader] is { Count: > 0 } header)
        {
            var id = header.ToString();
            if (id.Length is 0 or > MaxConversationIdLength || id.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
            {
                throw HttpApiException.BadRequest($"{ConversationHeader} must be 1 to {MaxConversationIdLength} printable characters without spaces",
                    ConversationHeader);
            }

            var grain = grains.GetGrain<IConversationGrain>(id);
            var stored = await grain.GetHistory();
            var statelessTurn = prefix.All(m => m.Role == MessageRole.System);
            if (stored.Count == 0)
            {
                await ImportAsync(grain, prefix);
                return new Resolved(id, prefix, Claimed: false);
            }

            if (statelessTurn && (prefix.Count == 0 || ConversationIndex.SameHistory(stored.Take(1).ToArray(), prefix)))
            {
                return new Resolved(id, stored, Claimed: false);
            }

            if (!ConversationIndex.SameHistory(stored, prefix))
            {
                throw new HttpApiException(StatusCodes.Status409Conflict, "conversation_mismatch",
                    $"the messages do not repeat the stored history of conversation '{id}' ({stored.Count} messages); send only the new " +
                    "user message, the exact history, or omit the header to fork", "messages");
            }

            return new Resolved(id, stored, Claimed: false);
        }

        if (prefix.Any(m => m.Role != MessageRole.System) && await index.TryClaimAsync(prefix) is { } claimed)
        {
            var stored = await grains.GetGrain<IConversationGrain>(claimed).GetHistory();
            if (ConversationIndex.SameHistory(stored, prefix))
            {
                return new Resolved(claimed, prefix, Claimed: true);
            }
        }

        var fresh = "oai-" + Guid.NewGuid().ToString("N");
        await ImportAsync(grains.GetGrain<IConversationGrain>(fresh), prefix);
        return new Resolved(fresh, prefix, Claimed: false);
    }

    private static Task ImportAsync(IConversationGrain grain, IReadOnlyList<ConversationMessage> prefix) =>
        prefix.Count == 0 ? Task.CompletedTask : grain.ImportHistory("import-" + Guid.NewGuid().ToString("N"), prefix);

    private async Task RegisterAsync(Resolved resolved, string userMessage, string reply)
    {
        var history = new List<ConversationMessage>(resolved.History)
        {
            new() { Role = MessageRole.User, Content = userMessage },
            new() { Role = MessageRole.Assistant, Content = reply },
        };
        try
        {
            await index.PutAsync(history, resolved.ConversationId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The turn is stored; only the next stateless turn's cache reuse is lost.
            logger.LogWarning(ex, "Could not index conversation {Conversation}", resolved.ConversationId);
        }
    }

    private sealed record Resolved(string ConversationId, IReadOnlyList<ConversationMessage> History, bool Claimed);
}
