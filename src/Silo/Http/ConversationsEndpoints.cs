using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// The native REST API: the conversation lives on the server, a client sends only the new message.
/// POST /conversations, POST /conversations/{id}/messages (JSON, or SSE with "stream": true),
/// GET /conversations/{id}, DELETE /conversations/{id}.
/// </summary>
public static class ConversationsEndpoints
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/conversations", CreateAsync);
        routes.MapPost("/conversations/{id}/messages", SendAsync);
        routes.MapGet("/conversations/{id}", GetAsync);
        routes.MapDelete("/conversations/{id}", DeleteAsync);
    }

    private static async Task CreateAsync(HttpContext context, IGrainFactory grains)
    {
        var body = await RequestBodies.ReadAsync(context.Request, HttpJsonContext.Default.CreateConversationRequest, allowEmpty: true);
        var id = body.Id ?? "conv-" + Guid.NewGuid().ToString("N");
        ValidateId(id);
        var grain = grains.GetGrain<IConversationGrain>(id);
        if ((await grain.GetStatus()).Exists)
        {
            throw new HttpApiException(StatusCodes.Status409Conflict, "conversation_exists", $"conversation '{id}' exists already", "id");
        }

        // Setting the system prompt (null too) records an applied request: the conversation exists from now on.
        await grain.SetSystemPrompt("create-" + Guid.NewGuid().ToString("N"), body.SystemPrompt);
        context.Response.StatusCode = StatusCodes.Status201Created;
        context.Response.Headers.Location = $"/conversations/{Uri.EscapeDataString(id)}";
        context.Response.Headers[ChatCompletionsEndpoint.ConversationHeader] = id;
        await context.Response.WriteAsJsonAsync(new ConversationCreated(id), HttpJsonContext.Default.ConversationCreated);
    }

    private static async Task SendAsync(HttpContext context, string id, IGrainFactory grains)
    {
        var body = await RequestBodies.ReadAsync(context.Request, HttpJsonContext.Default.SendMessageRequest);
        if (string.IsNullOrWhiteSpace(body.Content))
        {
            throw HttpApiException.BadRequest("'content' is required and must not be empty", "content");
        }

        var options = ChatRequestMapping.Options(body.Temperature, body.TopP, body.MaxTokens, body.Stop, body.Seed);
        var grain = await ExistingAsync(grains, id);
        var requestId = body.RequestId ?? "rest-" + Guid.NewGuid().ToString("N");
        var ct = context.RequestAborted;
        context.Response.Headers[ChatCompletionsEndpoint.ConversationHeader] = id;
        if (body.Stream != true)
        {
            var reply = await grain.Send(requestId, body.Content, options, ct);
            await context.Response.WriteAsJsonAsync(new MessageReply(id, reply.RequestId, reply.Text, ((ReplyFinishReason?)reply.FinishReason).ToOpenAi(),
                reply.Replayed, reply.Silo, reply.Usage.ToOpenAi()), HttpJsonContext.Default.MessageReply, cancellationToken: ct);
            return;
        }

        await using var chunks = grain.SendStreaming(requestId, body.Content, options, ct).GetAsyncEnumerator(ct);
        var has = await chunks.MoveNextAsync();
        var events = new ServerSentEvents(context.Response);
        events.Start();
        while (has)
        {
            var chunk = chunks.Current;
            if (chunk.Text.Length > 0)
            {
                await events.WriteAsync(new MessageChunk(chunk.Text), HttpJsonContext.Default.MessageChunk, ct);
            }

            if (chunk.IsFinal)
            {
                await events.WriteAsync(new MessageDone(chunk.FinishReason.ToOpenAi(), chunk.Silo, chunk.Usage.ToOpenAi()),
                    HttpJsonContext.Default.MessageDone, ct);
                break;
            }

            has = await chunks.MoveNextAsync();
        }

        await events.WriteDoneAsync(ct);
    }

    private static async Task GetAsync(HttpContext context, string id, IGrainFactory grains)
    {
        var grain = grains.GetGrain<IConversationGrain>(id);
        var status = await grain.GetStatus();
        if (!status.Exists)
        {
            throw NotFound(id);
        }

        var history = await grain.GetHistory();
        var messages = history.Where(m => m.Role != MessageRole.System)
            .Select(m => new MessageView(m.Role == MessageRole.User ? "user" : "assistant", m.Content, m.TokenIds.Count, m.Timestamp))
            .ToArray();
        await context.Response.WriteAsJsonAsync(new ConversationView(id, status.Silo, status.SystemPrompt, status.HistoryTokens,
            status.CachedTokens, status.IsGenerating, messages), HttpJsonContext.Default.ConversationView);
    }

    private static async Task<IResult> DeleteAsync(string id, IGrainFactory grains)
    {
        var grain = await ExistingAsync(grains, id);
        await grain.Delete("delete-" + Guid.NewGuid().ToString("N"));
        return Results.NoContent();
    }

    private static async Task<IConversationGrain> ExistingAsync(IGrainFactory grains, string id)
    {
        ValidateId(id);
        var grain = grains.GetGrain<IConversationGrain>(id);
        return (await grain.GetStatus()).Exists ? grain : throw NotFound(id);
    }

    private static HttpApiException NotFound(string id) =>
        new(StatusCodes.Status404NotFound, "conversation_not_found", $"conversation '{id}' does not exist");

    private static void ValidateId(string id)
    {
        if (id.Length is 0 or > ChatCompletionsEndpoint.MaxConversationIdLength || id.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw HttpApiException.BadRequest(
                $"a conversation id has 1 to {ChatCompletionsEndpoint.MaxConversationIdLength} printable characters without spaces", "id");
        }
    }
}
