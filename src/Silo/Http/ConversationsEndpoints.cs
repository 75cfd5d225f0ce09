using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Silo.Auth;

namespace AutoGlm.Orleans.Silo.Http;

/// <summary>
/// The native REST API: the conversation lives on the server, a client sends only the new message.
/// POST /conversations, POST /conversations/{id}/messages (JSON, or SSE with "stream": true),
/// GET /conversations/{id}, PATCH /conversations/{id} (truncation), POST /conversations/{id}/reset,
/// DELETE /conversations/{id}. Changes take an <c>Idempotency-Key</c> header (or, for
/// a message, a <c>request_id</c> field): a retry with the same key is applied once and returns the first reply.
/// </summary>
public static class ConversationsEndpoints
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/conversations", CreateAsync).RequireAuthorization(Policies.Tenant);
        routes.MapPost("/conversations/{id}/messages", SendAsync).RequireAuthorization(Policies.Tenant).RequireRateLimiting(Policies.Turns);
        routes.MapGet("/conversations/{id}", GetAsync).RequireAuthorization(Policies.Tenant);
        routes.MapDelete("/conversations/{id}", DeleteAsync).RequireAuthorization(Policies.Tenant);
        routes.MapPatch("/conversations/{id}", UpdateAsync).RequireAuthorization(Policies.Tenant);
        routes.MapPost("/conversations/{id}/reset", ResetAsync).RequireAuthorization(Policies.Tenant);
    }

    private static async Task CreateAsync(HttpContext context, IGrainFactory grains)
    {
        var body = await RequestBodies.ReadAsync(context.Request, HttpJsonContext.Default.CreateConversationRequest, allowEmpty: true);
        var id = body.Id ?? "conv-" + Guid.NewGuid().ToString("N");
        ValidateId(id);
        var key = IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("create-");
        var truncation = Truncation(body.Truncation);
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(id));
        await grain.Create(key, body.SystemPrompt);
        if (truncation is not null)
        {
            await grain.SetDefaultOptions(key + ":options", new GenerationOptions { Truncation = truncation });
        }

        context.Response.StatusCode = StatusCodes.Status201Created;
        context.Response.Headers.Location = $"/conversations/{Uri.EscapeDataString(id)}";
        context.Response.Headers[ChatCompletionsEndpoint.ConversationHeader] = id;
        await context.Response.WriteAsJsonAsync(new ConversationCreated(id), HttpJsonContext.Default.ConversationCreated);
    }

    private static async Task SendAsync(HttpContext context, string id, TurnCalls calls, TenantTokenBudget budget)
    {
        var body = await RequestBodies.ReadAsync(context.Request, HttpJsonContext.Default.SendMessageRequest);
        if (string.IsNullOrWhiteSpace(body.Content))
        {
            throw HttpApiException.BadRequest("'content' is required and must not be empty", "content");
        }

        ValidateId(id);
        var options = ChatRequestMapping.Options(body.Temperature, body.TopP, body.MaxTokens, body.Stop, body.Seed) with
        {
            Truncation = Truncation(body.Truncation),
        };
        var key = IdempotencyKeys.FromRequest(context.Request, body.RequestId) ?? IdempotencyKeys.New("rest-");
        var streaming = body.Stream == true;
        var ct = context.RequestAborted;
        budget.Take(context, body.Content, body.MaxTokens);
        await using var call = await calls.StartAsync(context.ConversationKey(id), new TurnRequest(key, body.Content, options) { RequireExisting = true },
            streaming, ct);
        context.Response.Headers[ChatCompletionsEndpoint.ConversationHeader] = id;
        if (!streaming)
        {
            var text = new System.Text.StringBuilder();
            var final = await ReadToEndAsync(call, text);
            await context.Response.WriteAsJsonAsync(new MessageReply(id, key, text.ToString(), final.FinishReason.ToOpenAi(), final.Replayed,
                final.Silo, final.Usage.ToOpenAi()), HttpJsonContext.Default.MessageReply, cancellationToken: ct);
            return;
        }

        var events = new ServerSentEvents(context.Response);
        events.Start();
        try
        {
            var has = true;
            while (has)
            {
                var chunk = call.Current;
                if (chunk.Text.Length > 0)
                {
                    await events.WriteAsync(new MessageChunk(chunk.Text), HttpJsonContext.Default.MessageChunk, ct);
                }

                if (chunk.IsFinal)
                {
                    await events.WriteAsync(new MessageDone(chunk.FinishReason.ToOpenAi(), chunk.Silo, chunk.Usage.ToOpenAi(), chunk.Replayed),
                        HttpJsonContext.Default.MessageDone, ct);
                    await events.WriteDoneAsync(ct);
                    return;
                }

                has = await call.MoveNextAsync();
            }

            throw new ConversationException($"conversation '{id}': the reply ended without a finish reason");
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            await events.WriteErrorAsync(ex, context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(ConversationsEndpoints)));
        }
    }

    /// <summary>The rest of a turn's reply, from the call's current chunk to its final one.</summary>
    internal static async Task<ReplyChunk> ReadToEndAsync(TurnCall call, System.Text.StringBuilder text)
    {
        do
        {
            var chunk = call.Current;
            text.Append(chunk.Text);
            if (chunk.IsFinal)
            {
                return chunk;
            }
        }
        while (await call.MoveNextAsync());

        throw new ConversationException("the reply ended without a finish reason");
    }

    private static async Task GetAsync(HttpContext context, string id, IGrainFactory grains)
    {
        ValidateId(id);
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(id));
        var status = await grain.GetStatus();
        if (!status.Exists)
        {
            throw NotFound(id);
        }

        var history = await grain.GetHistory();
        var messages = history.Where(m => m.Role != MessageRole.System)
            .Select(m => new MessageView(m.Role == MessageRole.User ? "user" : "assistant", m.Content, m.TokenIds.Count, m.Timestamp, m.RequestId))
            .ToArray();
        await context.Response.WriteAsJsonAsync(new ConversationView(id, status.Silo, status.SystemPrompt, status.HistoryTokens,
            status.CachedTokens, status.IsGenerating, messages, TruncationName(status.DefaultOptions?.Truncation), status.TruncatedTokens),
            HttpJsonContext.Default.ConversationView);
    }

    private static async Task<IResult> UpdateAsync(HttpContext context, string id, IGrainFactory grains)
    {
        ValidateId(id);
        var body = await RequestBodies.ReadAsync(context.Request, HttpJsonContext.Default.UpdateConversationRequest);
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(id));
        var status = await grain.GetStatus();
        if (!status.Exists)
        {
            throw NotFound(id);
        }

        var options = (status.DefaultOptions ?? new GenerationOptions()) with { Truncation = Truncation(body.Truncation) ?? status.DefaultOptions?.Truncation };
        await grain.SetDefaultOptions(IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("settings-"), options);
        return Results.NoContent();
    }

    private static async Task<IResult> ResetAsync(HttpContext context, string id, IGrainFactory grains)
    {
        ValidateId(id);
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(id));
        if (!(await grain.GetStatus()).Exists)
        {
            throw NotFound(id);
        }

        await grain.Reset(IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("reset-"));
        return Results.NoContent();
    }

    private static TruncationMode? Truncation(string? value) => value switch
    {
        null => null,
        "auto" => TruncationMode.Auto,
        "disabled" => TruncationMode.Disabled,
        _ => throw HttpApiException.BadRequest($"'truncation' is \"auto\" or \"disabled\"; got \"{value}\"", "truncation"),
    };

    private static string TruncationName(TruncationMode? mode) => mode == TruncationMode.Auto ? "auto" : "disabled";

    private static async Task<IResult> DeleteAsync(HttpContext context, string id, IGrainFactory grains)
    {
        ValidateId(id);
        var key = IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("delete-");
        await grains.GetGrain<IConversationGrain>(context.ConversationKey(id)).Delete(key);
        return Results.NoContent();
    }

    private static HttpApiException NotFound(string id) =>
        new(StatusCodes.Status404NotFound, "conversation_not_found", $"conversation '{id}' does not exist");

    /// <summary>A conversation id is 1 to <see cref="ChatCompletionsEndpoint.MaxConversationIdLength"/> printable characters without spaces.</summary>
    internal static bool IsValidId(string id) =>
        id.Length is > 0 and <= ChatCompletionsEndpoint.MaxConversationIdLength && !id.Any(c => char.IsControl(c) || char.IsWhiteSpace(c));

    internal static void ValidateId(string id, string param = "id")
    {
        if (!IsValidId(id))
        {
            throw HttpApiException.BadRequest(
                $"a conversation id has 1 to {ChatCompletionsEndpoint.MaxConversationIdLength} printable characters without spaces", param);
        }
    }
}
