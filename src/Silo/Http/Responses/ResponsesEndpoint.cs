using System.Text.Json;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Silo.Auth;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>
/// OpenAI's Responses API on conversation grains. POST /v1/responses runs one turn:
/// <list type="bullet">
/// <item>with <c>conversation</c>: a turn of that conversation (it must exist);</item>
/// <item>with <c>previous_response_id</c> naming a conversation's latest turn: the next turn of that conversation, so
/// its KV is reused as it stands; naming an earlier turn: a fork, a new conversation seeded with the history through
/// that turn, whose KV is copied from the parent's on the parent's silo;</item>
/// <item>with neither: a new conversation.</item>
/// </list>
/// <c>store: false</c> answers without keeping anything. An <c>Idempotency-Key</c> makes a retry return the first
/// response (a new conversation's and a fork's ids derive from it). GET/DELETE /v1/responses/{id} and
/// /v1/responses/{id}/input_items read and forget a stored turn.
/// </summary>
public sealed class ResponsesEndpoint(IGrainFactory grains, TurnCalls calls, TenantTokenBudget budget, InferenceEngine engine,
    ILogger<ResponsesEndpoint> logger)
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/responses", (HttpContext c, ResponsesEndpoint e) => e.CreateAsync(c))
            .RequireAuthorization(Policies.Tenant).RequireRateLimiting(Policies.Turns);
        routes.MapGet("/v1/responses/{id}", (HttpContext c, string id, ResponsesEndpoint e) => e.GetAsync(c, id)).RequireAuthorization(Policies.Tenant);
        routes.MapDelete("/v1/responses/{id}", (HttpContext c, string id, ResponsesEndpoint e) => e.DeleteAsync(c, id)).RequireAuthorization(Policies.Tenant);
        routes.MapGet("/v1/responses/{id}/input_items", (HttpContext c, string id, ResponsesEndpoint e) => e.InputItemsAsync(c, id))
            .RequireAuthorization(Policies.Tenant);
    }

    private async Task CreateAsync(HttpContext context)
    {
        var body = await RequestBodies.ReadAsync(context.Request, ResponsesJsonContext.Default.CreateResponseRequest);
        CheckModel(body.Model);
        var conversation = ConversationParam(body.Conversation);
        if (body.PreviousResponseId is not null && conversation is not null)
        {
            throw HttpApiException.BadRequest("'previous_response_id' and 'conversation' cannot both be given", "previous_response_id", "invalid_request");
        }

        if (body.MaxOutputTokens is < 1)
        {
            throw HttpApiException.BadRequest($"'max_output_tokens' must be at least 1; got {body.MaxOutputTokens}", "max_output_tokens");
        }

        var truncation = body.Truncation switch
        {
            null or "disabled" => TruncationMode.Disabled,
            "auto" => TruncationMode.Auto,
            _ => throw HttpApiException.BadRequest($"'truncation' is \"auto\" or \"disabled\"; got \"{body.Truncation}\"", "truncation"),
        };
        var (inputInstructions, messages) = ResponseInput.Parse(body.Input, "input");
        if (messages[^1].Role != MessageRole.User)
        {
            throw HttpApiException.BadRequest("the last input item must be a user message", "input");
        }

        var instructions = (body.Instructions, inputInstructions) switch
        {
            (null, var fromInput) => fromInput,
            (var given, null) => given,
            (var given, var fromInput) => given + "\n\n" + fromInput,
        };
        var options = ChatRequestMapping.Options(body.Temperature, body.TopP, body.MaxOutputTokens, null, null) with { Truncation = truncation };
        var store = body.Store ?? true;
        var key = IdempotencyKeys.FromRequest(context.Request);
        var requestId = key ?? IdempotencyKeys.New("resp-");
        var user = messages[^1].Content;
        IReadOnlyList<ConversationMessage>? prior = messages.Count > 1 ? messages[..^1] : null;
        budget.Take(context, user, body.MaxOutputTokens);

        var turn = new TurnRequest(requestId, user, options) { Ephemeral = !store };
        var plan = conversation is not null
            ? await InConversationAsync(context, conversation, turn with { Items = prior, RequireExisting = true }, instructions)
            : body.PreviousResponseId is { } previous
                ? await AfterAsync(context, previous, turn with { Items = prior }, instructions, store)
                : New(key, turn with { Seed = Seed(instructions, prior) }, store);

        var view = new ResponseView
        {
            Id = store ? ResponseIds.For(plan.ConversationId, requestId) : "resp_" + Guid.NewGuid().ToString("N"),
            Model = engine.Manifest.Name,
            CreatedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            PreviousResponseId = body.PreviousResponseId,
            ConversationId = conversation,
            Instructions = instructions,
            MaxOutputTokens = body.MaxOutputTokens,
            Temperature = body.Temperature,
            TopP = body.TopP,
            Truncation = truncation == TruncationMode.Auto ? "auto" : "disabled",
            Store = store,
            Metadata = body.Metadata,
            User = body.User,
        };
        var ct = context.RequestAborted;
        var streaming = body.Stream == true;
        (var call, plan) = await StartAsync(context, plan, streaming, ct);
        await using var _ = call;
        context.Response.Headers[ChatCompletionsEndpoint.ConversationHeader] = plan.ConversationId;
        if (streaming)
        {
            await new ResponseStream(context.Response, view, logger).RunAsync(call, ct);
            return;
        }

        var text = new System.Text.StringBuilder();
        var final = await ConversationsEndpoints.ReadToEndAsync(call, text);
        var done = view.Finished(text.ToString(), final.FinishReason, final.Usage);
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteResponse(j, done), cancellationToken: ct);
    }

    /// <summary>Starts the turn; a continuation that lost the race to another turn of its conversation becomes a fork.</summary>
    private async Task<(TurnCall Call, TurnPlan Plan)> StartAsync(HttpContext context, TurnPlan plan, bool streaming, CancellationToken ct)
    {
        try
        {
            return (await calls.StartAsync(context.ConversationKey(plan.ConversationId), plan.Turn, streaming, ct), plan);
        }
        catch (ConversationChangedException) when (plan.Turn.ContinuesFrom is { } through)
        {
            var fork = await ForkAsync(context, plan.ConversationId, through, plan.Turn with { ContinuesFrom = null, RequireExisting = false },
                !plan.Turn.Ephemeral);
            return (await calls.StartAsync(context.ConversationKey(fork.ConversationId), fork.Turn, streaming, ct), fork);
        }
    }

    private async Task<TurnPlan> InConversationAsync(HttpContext context, string conversationId, TurnRequest turn, string? instructions)
    {
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(conversationId));
        var status = await grain.GetStatus();
        if (!status.Exists)
        {
            throw new HttpApiException(StatusCodes.Status404NotFound, "conversation_not_found", $"conversation '{conversationId}' does not exist", "conversation");
        }

        if (instructions is not null && !string.Equals(instructions, status.SystemPrompt, StringComparison.Ordinal) && !turn.Ephemeral)
        {
            await grain.SetSystemPrompt(turn.RequestId + ":instructions", instructions);
        }

        return new TurnPlan(conversationId, turn);
    }

    private async Task<TurnPlan> AfterAsync(HttpContext context, string previousResponseId, TurnRequest turn, string? instructions, bool store)
    {
        if (!ResponseIds.TryParse(previousResponseId, out var conversationId, out var through))
        {
            throw ResponseNotFound(previousResponseId, "previous_response_id");
        }

        var parent = grains.GetGrain<IConversationGrain>(context.ConversationKey(conversationId));
        // A retry of a continuation that was stored: the conversation replays it.
        if (store && await parent.GetTurn(turn.RequestId) is not null)
        {
            return new TurnPlan(conversationId, turn with { RequireExisting = true });
        }

        var previous = await parent.GetTurn(through) ?? throw ResponseNotFound(previousResponseId, "previous_response_id");
        if (!previous.IsLatest)
        {
            return await ForkAsync(context, conversationId, through, turn, store);
        }

        if (instructions is not null && store && !string.Equals(instructions, previous.SystemPrompt, StringComparison.Ordinal))
        {
            await parent.SetSystemPrompt(turn.RequestId + ":instructions", instructions);
        }

        return new TurnPlan(conversationId, turn with { ContinuesFrom = through, RequireExisting = true });
    }

    /// <summary>A new conversation from the parent's history through <paramref name="through"/>; the parent's silo copies its KV for it first.</summary>
    private async Task<TurnPlan> ForkAsync(HttpContext context, string parentId, string through, TurnRequest turn, bool store)
    {
        var forkId = store ? ResponseIds.Fork(parentId, turn.RequestId) : "tmp_" + Guid.NewGuid().ToString("N");
        var parentKey = context.ConversationKey(parentId);
        try
        {
            await grains.GetGrain<IConversationGrain>(parentKey).ShareKv(context.ConversationKey(forkId), through);
        }
        catch (ConversationException ex)
        {
            // Not fatal: the fork computes what it could not copy.
            logger.LogDebug(ex, "No KV shared with fork {Fork}", forkId);
        }

        return new TurnPlan(forkId, turn with { ForkOf = new ForkSource(parentKey, through), ContinuesFrom = null });
    }

    private static TurnPlan New(string? key, TurnRequest turn, bool store) =>
        new(store ? ResponseIds.NewConversation(key) : "tmp_" + Guid.NewGuid().ToString("N"), turn);

    private static List<ConversationMessage>? Seed(string? instructions, IReadOnlyList<ConversationMessage>? prior)
    {
        if (instructions is null && prior is null)
        {
            return null;
        }

        var seed = new List<ConversationMessage>();
        if (instructions is not null)
        {
            seed.Add(new ConversationMessage { Role = MessageRole.System, Content = instructions });
        }

        seed.AddRange(prior ?? []);
        return seed;
    }

    private async Task GetAsync(HttpContext context, string id)
    {
        var (conversationId, stored) = await FindAsync(context, id);
        var reply = stored.Reply;
        var view = new ResponseView
        {
            Id = id,
            Model = engine.Manifest.Name,
            CreatedAt = reply.Timestamp.ToUnixTimeSeconds(),
            PreviousResponseId = stored.PreviousRequestId is { } previous ? ResponseIds.For(conversationId, previous) : null,
            Instructions = stored.SystemPrompt,
        }.Finished(reply.Content, reply.FinishReason, reply.Usage);
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteResponse(j, view), cancellationToken: context.RequestAborted);
    }

    private async Task DeleteAsync(HttpContext context, string id)
    {
        if (!ResponseIds.TryParse(id, out var conversationId, out var requestId))
        {
            throw ResponseNotFound(id);
        }

        try
        {
            await grains.GetGrain<IConversationGrain>(context.ConversationKey(conversationId))
                .DeleteResponse(IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("delete-response-"), requestId);
        }
        catch (ConversationNotFoundException)
        {
            throw ResponseNotFound(id);
        }

        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteDeleted(j, id, "response.deleted"), cancellationToken: context.RequestAborted);
    }

    private async Task InputItemsAsync(HttpContext context, string id)
    {
        var (_, stored) = await FindAsync(context, id);
        var items = stored.Input.Select((m, i) => ($"msg_{id["resp_".Length..]}_{i}", m)).ToList();
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteItemList(j, items, hasMore: false), cancellationToken: context.RequestAborted);
    }

    private async Task<(string ConversationId, StoredTurn Turn)> FindAsync(HttpContext context, string id)
    {
        if (!ResponseIds.TryParse(id, out var conversationId, out var requestId))
        {
            throw ResponseNotFound(id);
        }

        var turn = await grains.GetGrain<IConversationGrain>(context.ConversationKey(conversationId)).GetTurn(requestId) ?? throw ResponseNotFound(id);
        return (conversationId, turn);
    }

    private void CheckModel(string? model)
    {
        if (string.IsNullOrEmpty(model))
        {
            throw new HttpApiException(StatusCodes.Status400BadRequest, "missing_required_parameter", "'model' is required", "model");
        }

        ModelsEndpoint.RequireServed(model, engine);
    }

    /// <summary>The <c>conversation</c> field: an id, or an object with one.</summary>
    private static string? ConversationParam(JsonElement? value) => value switch
    {
        null or { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined } => null,
        { ValueKind: JsonValueKind.String } s => ValidId(s.GetString()!),
        { ValueKind: JsonValueKind.Object } o when o.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String => ValidId(id.GetString()!),
        _ => throw HttpApiException.BadRequest("'conversation' is a conversation id or an object with an 'id'", "conversation"),
    };

    private static string ValidId(string id)
    {
        ConversationsEndpoints.ValidateId(id, "conversation");
        return id;
    }

    private static HttpApiException ResponseNotFound(string id, string? param = null) =>
        new(StatusCodes.Status404NotFound, "response_not_found", $"response '{id}' does not exist", param);

    private sealed record TurnPlan(string ConversationId, TurnRequest Turn);
}
