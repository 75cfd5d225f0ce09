using System.Globalization;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Silo.Auth;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>
/// OpenAI's Conversations API over the same grains as the native REST API (/conversations): POST /v1/conversations
/// (items, metadata), GET/POST/DELETE /v1/conversations/{id}, GET/POST /v1/conversations/{id}/items. An item id is
/// "msg_{n}", the message's position in the conversation's live history (a reset starts it again).
/// </summary>
public static class OpenAiConversationsEndpoints
{
    private const int DefaultLimit = 20;
    private const int MaxLimit = 100;

    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/conversations", CreateAsync).RequireAuthorization(Policies.Tenant);
        routes.MapGet("/v1/conversations/{id}", GetAsync).RequireAuthorization(Policies.Tenant);
        routes.MapPost("/v1/conversations/{id}", UpdateAsync).RequireAuthorization(Policies.Tenant);
        routes.MapDelete("/v1/conversations/{id}", DeleteAsync).RequireAuthorization(Policies.Tenant);
        routes.MapGet("/v1/conversations/{id}/items", ListItemsAsync).RequireAuthorization(Policies.Tenant);
        routes.MapPost("/v1/conversations/{id}/items", AddItemsAsync).RequireAuthorization(Policies.Tenant);
    }

    private static async Task CreateAsync(HttpContext context, IGrainFactory grains)
    {
        var body = await RequestBodies.ReadAsync(context.Request, ResponsesJsonContext.Default.CreateOpenAiConversationRequest, allowEmpty: true);
        var (instructions, items) = ResponseInput.Parse(body.Items, "items", allowEmpty: true);
        var key = IdempotencyKeys.FromRequest(context.Request);
        var requestId = key ?? IdempotencyKeys.New("conv-");
        var id = ResponseIds.NewConversation(key);
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(id));
        await grain.Create(requestId, instructions);
        if (body.Metadata is { Count: > 0 } metadata)
        {
            await grain.SetMetadata(requestId + ":metadata", metadata);
        }

        if (items.Count > 0)
        {
            await grain.AppendMessages(requestId + ":items", items);
        }

        var status = await grain.GetStatus();
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteConversation(j, id, status.CreatedAt, status.Metadata));
    }

    private static async Task GetAsync(HttpContext context, string id, IGrainFactory grains)
    {
        var status = await ExistingAsync(context, grains, id);
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteConversation(j, id, status.CreatedAt, status.Metadata));
    }

    private static async Task UpdateAsync(HttpContext context, string id, IGrainFactory grains)
    {
        var body = await RequestBodies.ReadAsync(context.Request, ResponsesJsonContext.Default.ConversationItemsRequest);
        await ExistingAsync(context, grains, id);
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(id));
        await grain.SetMetadata(IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("metadata-"), body.Metadata ?? []);
        var status = await grain.GetStatus();
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteConversation(j, id, status.CreatedAt, status.Metadata));
    }

    private static async Task DeleteAsync(HttpContext context, string id, IGrainFactory grains)
    {
        await grains.GetGrain<IConversationGrain>(context.ConversationKey(id))
            .Delete(IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("delete-"));
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteDeleted(j, id, "conversation.deleted"));
    }

    private static async Task ListItemsAsync(HttpContext context, string id, IGrainFactory grains)
    {
        var query = context.Request.Query;
        var descending = query["order"].ToString() switch
        {
            "" or "desc" => true,
            "asc" => false,
            var other => throw HttpApiException.BadRequest($"'order' is \"asc\" or \"desc\"; got \"{other}\"", "order"),
        };
        var limit = query["limit"].ToString() is { Length: > 0 } text
            ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= MaxLimit
                ? n
                : throw HttpApiException.BadRequest($"'limit' is an integer from 1 to {MaxLimit}", "limit")
            : DefaultLimit;
        int? after = query["after"].ToString() is { Length: > 0 } cursor
            ? ItemIndex(cursor) ?? throw HttpApiException.BadRequest($"'after' names no item: {cursor}", "after")
            : null;

        await ExistingAsync(context, grains, id);
        var history = await grains.GetGrain<IConversationGrain>(context.ConversationKey(id)).GetHistory();
        var messages = history.Where(m => m.Role != MessageRole.System).Select((m, i) => ($"msg_{i}", Index: i, m)).ToList();
        IEnumerable<(string, int Index, ConversationMessage)> ordered = descending ? Enumerable.Reverse(messages) : messages;
        if (after is { } start)
        {
            ordered = ordered.Where(m => descending ? m.Index < start : m.Index > start);
        }

        var page = ordered.Take(limit + 1).ToList();
        var items = page.Take(limit).Select(p => (p.Item1, p.Item3)).ToList();
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteItemList(j, items, hasMore: page.Count > limit));
    }

    private static async Task AddItemsAsync(HttpContext context, string id, IGrainFactory grains)
    {
        var body = await RequestBodies.ReadAsync(context.Request, ResponsesJsonContext.Default.ConversationItemsRequest);
        var (instructions, items) = ResponseInput.Parse(body.Items, "items");
        if (instructions is not null)
        {
            throw HttpApiException.BadRequest("system and developer items cannot be added to an existing conversation", "items");
        }

        await ExistingAsync(context, grains, id);
        var grain = grains.GetGrain<IConversationGrain>(context.ConversationKey(id));
        await grain.AppendMessages(IdempotencyKeys.FromRequest(context.Request) ?? IdempotencyKeys.New("items-"), items);
        var history = (await grain.GetHistory()).Where(m => m.Role != MessageRole.System).ToList();
        var added = history.Select((m, i) => ($"msg_{i}", m)).Skip(history.Count - items.Count).ToList();
        await JsonWriting.WriteJsonAsync(context.Response, j => ResponseJson.WriteItemList(j, added, hasMore: false));
    }

    private static async Task<ConversationStatus> ExistingAsync(HttpContext context, IGrainFactory grains, string id)
    {
        var status = await grains.GetGrain<IConversationGrain>(context.ConversationKey(id)).GetStatus();
        return status.Exists
            ? status
            : throw new HttpApiException(StatusCodes.Status404NotFound, "conversation_not_found", $"conversation '{id}' does not exist");
    }

    private static int? ItemIndex(string id) =>
        id.StartsWith("msg_", StringComparison.Ordinal) && int.TryParse(id.AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : null;
}
