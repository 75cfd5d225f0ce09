using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Silo.Auth;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// POST /v1/chat/completions. The message list maps onto a conversation (see <see cref="ResolveAsync"/>) so a
/// stateless client's turn N reuses the KV of turns 1..N-1; the response names the conversation in the
/// <c>X-Conversation-Id</c> header. With that header and an <c>Idempotency-Key</c>, a retried turn is applied once.
/// Nothing is written before the turn runs: a new conversation's history is stored with its first turn.
/// </summary>
public sealed class ChatCompletionsEndpoint(IGrainFactory grains, ConversationIndex index, TurnCalls calls, TenantTokenBudget budget,
    InferenceEngine engine, ILogger<ChatCompletionsEndpoint> logger)
{
    public const string ConversationHeader = "X-Conversation-Id";
    public const int MaxConversationIdLength = 128;

    public async Task HandleAsync(HttpContext context)
    {
        var request = ChatRequestMapping.Map(await RequestBodies.ReadAsync(context.Request, HttpJsonContext.Default.ChatCompletionRequest));
        ModelsEndpoint.RequireServed(request.Model, engine);

        // Every message takes at least one token: a list this long is refused before anything hashes or renders it.
        if (request.Prefix.Count + 1 >= engine.Manifest.ContextLength)
        {
            throw new HttpApiException(StatusCodes.Status400BadRequest, "invalid_request",
                $"{request.Prefix.Count + 1} messages cannot fit the model's context window of {engine.Manifest.ContextLength} tokens", "messages");
        }

        var key = IdempotencyKeys.FromRequest(context.Request);
        var requestId = key ?? IdempotencyKeys.New("oai-");
        var ct = context.RequestAborted;
        budget.Take(context, request.UserMessage, request.Options.MaxNewTokens);
        var resolved = await ResolveAsync(context, request, requestId, ct);
        var scope = context.Entry().CacheScope;
        var completed = false;
        try
        {
            var turn = new TurnRequest(requestId, request.UserMessage, request.Options) { Seed = resolved.Seed };
            await using var call = await calls.StartAsync(context.ConversationKey(resolved.ConversationId), turn, request.Stream, ct);
            context.Response.Headers[ConversationHeader] = resolved.ConversationId;
            var reply = new ChatReply(context, request, logger);
            // Indexed before the client sees the reply end: a client that sends its next turn at once (after [DONE])
            // must find this conversation by its history, or its turn starts a new one and recomputes everything.
            Task Register(string text)
            {
                completed = true;
                return RegisterAsync(resolved, scope, request.UserMessage, text);
            }

            _ = request.Stream ? await reply.StreamAsync(call, Register, ct) : await reply.WholeAsync(call, Register, ct);
        }
        finally
        {
            if (!completed && resolved.Claimed)
            {
                // The turn did not happen: give the entry back so the client's retry continues the same conversation.
                await index.PutAsync(scope, resolved.History, resolved.ConversationId, CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// Which conversation serves the request, and what it holds before the turn. Reads only.
    /// <list type="bullet">
    /// <item>With <c>X-Conversation-Id</c>: that conversation. A request of only the new user message (and perhaps a
    /// system message) continues whatever it holds; a longer one must repeat its stored history exactly (409
    /// <c>conversation_mismatch</c> otherwise), or that history plus the turn its Idempotency-Key stored (a retry).
    /// An empty or unknown conversation is seeded with the request's history by the turn itself.</item>
    /// <item>Without: the index entry for the request's history (messages minus the last user message) is claimed
    /// atomically; it is re-keyed to the new history when the turn completes. A second request with the same
    /// history (a fork, or a concurrent duplicate) finds no entry and starts a new conversation seeded with it.</item>
    /// </list>
    /// </summary>
    private async Task<Resolved> ResolveAsync(HttpContext context, MappedChatRequest request, string requestId, CancellationToken ct)
    {
        var prefix = request.Prefix;
        var seed = prefix.Count == 0 ? null : prefix;
        if (context.Request.Headers[ConversationHeader] is { Count: > 0 } header)
        {
            var id = header.ToString();
            if (!ConversationsEndpoints.IsValidId(id))
            {
                throw HttpApiException.BadRequest($"{ConversationHeader} must be 1 to {MaxConversationIdLength} printable characters without spaces",
                    ConversationHeader);
            }

            var stored = await grains.GetGrain<IConversationGrain>(context.ConversationKey(id)).GetHistory();
            if (stored.Count == 0)
            {
                return new Resolved(id, prefix, seed, Claimed: false);
            }

            var statelessTurn = prefix.All(m => m.Role == MessageRole.System);
            var continues = statelessTurn && (prefix.Count == 0 || ConversationIndex.SameHistory(stored.Take(1).ToArray(), prefix));
            var retried = stored.Count == prefix.Count + 2 && stored[^1].RequestId == requestId
                && ConversationIndex.SameHistory(stored.Take(prefix.Count).ToArray(), prefix);
            if (!continues && !retried && !ConversationIndex.SameHistory(stored, prefix))
            {
                throw new HttpApiException(StatusCodes.Status409Conflict, "conversation_mismatch",
                    $"the messages do not repeat the stored history of conversation '{id}' ({stored.Count} messages); send only the new " +
                    "user message, the exact history, or omit the header to fork", "messages");
            }

            return new Resolved(id, retried ? prefix : stored, Seed: null, Claimed: false);
        }

        // The index is the tenant's (and its cache salt's): another tenant's identical history never finds this one's KV.
        var scope = context.Entry().CacheScope;
        if (prefix.Any(m => m.Role != MessageRole.System) && await index.TryClaimAsync(scope, prefix, ct) is { } claimed)
        {
            try
            {
                if (ConversationIndex.SameHistory(await grains.GetGrain<IConversationGrain>(context.ConversationKey(claimed)).GetHistory(), prefix))
                {
                    return new Resolved(claimed, prefix, Seed: null, Claimed: true);
                }
            }
            catch
            {
                await index.PutAsync(scope, prefix, claimed, CancellationToken.None);
                throw;
            }
        }

        return new Resolved("oai-" + Guid.NewGuid().ToString("N"), prefix, seed, Claimed: false);
    }

    private async Task RegisterAsync(Resolved resolved, string scope, string userMessage, string reply)
    {
        var history = new List<ConversationMessage>(resolved.History)
        {
            new() { Role = MessageRole.User, Content = userMessage },
            new() { Role = MessageRole.Assistant, Content = reply },
        };
        try
        {
            await index.PutAsync(scope, history, resolved.ConversationId, CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The turn is stored; only the next stateless turn's cache reuse is lost.
            logger.LogWarning(ex, "Could not index conversation {Conversation}", resolved.ConversationId);
        }
    }

    private sealed record Resolved(string ConversationId, IReadOnlyList<ConversationMessage> History, IReadOnlyList<ConversationMessage>? Seed,
        bool Claimed);
}
