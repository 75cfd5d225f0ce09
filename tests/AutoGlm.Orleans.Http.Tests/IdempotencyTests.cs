using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;
using OpenAI.Chat;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>Exactly once over HTTP: an Idempotency-Key (or request_id) names one turn, whatever the retries.</summary>
public sealed class IdempotencyTests(SiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_rest_turn_retried_with_its_key_is_replayed_whole_or_streamed_and_stored_once()
    {
        var id = await CreateAsync();
        var first = await SendAsync(id, "Hello there.", "turn-1");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var reply = await first.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.False(reply.GetProperty("replayed").GetBoolean());
        Assert.Equal("turn-1", reply.GetProperty("request_id").GetString());

        var again = await (await SendAsync(id, "Hello there.", "turn-1")).Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(again.GetProperty("replayed").GetBoolean());
        Assert.Equal(reply.GetProperty("content").GetString(), again.GetProperty("content").GetString());

        var streamed = await SendAsync(id, "Hello there.", "turn-1", stream: true);
        var events = (await streamed.Content.ReadAsStringAsync(Ct)).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        var text = string.Concat(events.Select(e => JsonDocument.Parse(e["data: ".Length..].Replace("[DONE]", "{}")).RootElement)
            .Where(e => e.TryGetProperty("text", out _)).Select(e => e.GetProperty("text").GetString()));
        Assert.Equal(reply.GetProperty("content").GetString(), text);
        Assert.Contains(events, e => e.Contains("\"replayed\":true", StringComparison.Ordinal));

        var view = await server.Http.GetFromJsonAsync<JsonElement>($"/conversations/{id}", Ct);
        var messages = view.GetProperty("messages").EnumerateArray().ToArray();
        Assert.Equal(2, messages.Length);
        Assert.All(messages, m => Assert.Equal("turn-1", m.GetProperty("request_id").GetString()));
    }

    [Fact]
    public async Task A_key_names_one_request_only()
    {
        var id = await CreateAsync();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(id, "First.", "k")).StatusCode);
        await AssertErrorAsync(await SendAsync(id, "Something else.", "k"), HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");

        using var both = new HttpRequestMessage(HttpMethod.Post, $"/conversations/{id}/messages")
        {
            Content = JsonContent.Create(new { content = "Hi", request_id = "a" }),
        };
        both.Headers.Add("Idempotency-Key", "b");
        await AssertErrorAsync(await server.Http.SendAsync(both, Ct), HttpStatusCode.BadRequest, "invalid_value");
    }

    [Fact]
    public async Task A_turn_for_a_conversation_that_does_not_exist_is_a_404_and_creates_nothing()
    {
        var id = "missing-" + Guid.NewGuid().ToString("N");
        await AssertErrorAsync(await SendAsync(id, "Anyone?", "k1"), HttpStatusCode.NotFound, "conversation_not_found");
        await AssertErrorAsync(await server.Http.GetAsync($"/conversations/{id}", Ct), HttpStatusCode.NotFound, "conversation_not_found");
        await AssertErrorAsync(await server.Http.DeleteAsync($"/conversations/{id}", Ct), HttpStatusCode.NotFound, "conversation_not_found");
    }

    [Fact]
    public async Task A_created_conversation_created_again_with_the_same_key_is_201_and_with_another_409()
    {
        var id = "create-" + Guid.NewGuid().ToString("N");
        Assert.Equal(HttpStatusCode.Created, (await CreateAsync(id, "c1")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await CreateAsync(id, "c1")).StatusCode);
        await AssertErrorAsync(await CreateAsync(id, "c2"), HttpStatusCode.Conflict, "conversation_exists");
    }

    /// <summary>The OpenAI SDK with X-Conversation-Id and Idempotency-Key: the retry (new message only, or the full history) is the first turn.</summary>
    [Fact]
    public async Task An_openai_turn_retried_with_its_key_is_answered_by_the_stored_reply()
    {
        var id = "oai-" + Guid.NewGuid().ToString("N");
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 };
        var chat = server.Chat(("X-Conversation-Id", id), ("Idempotency-Key", "oai-turn-1"));
        var first = (await chat.CompleteChatAsync([new UserChatMessage("Hello there")], options, Ct)).Value;
        var retry = (await chat.CompleteChatAsync([new UserChatMessage("Hello there")], options, Ct)).Value;
        Assert.Equal(first.Content[0].Text, retry.Content[0].Text);

        var second = server.Chat(("X-Conversation-Id", id), ("Idempotency-Key", "oai-turn-2"));
        List<ChatMessage> history = [new UserChatMessage("Hello there"), new AssistantChatMessage(first.Content[0].Text), new UserChatMessage("And?")];
        var reply = (await second.CompleteChatAsync(history, options, Ct)).Value;
        // A stateless client's retry repeats the history it sent the first time; the stored turn answers it.
        var again = (await second.CompleteChatAsync(history, options, Ct)).Value;
        Assert.Equal(reply.Content[0].Text, again.Content[0].Text);

        var view = await server.Http.GetFromJsonAsync<JsonElement>($"/conversations/{id}", Ct);
        Assert.Equal(["oai-turn-1", "oai-turn-1", "oai-turn-2", "oai-turn-2"],
            view.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("request_id").GetString()));
    }

    private async Task<string> CreateAsync()
    {
        var id = "idem-" + Guid.NewGuid().ToString("N");
        Assert.Equal(HttpStatusCode.Created, (await CreateAsync(id, null)).StatusCode);
        return id;
    }

    private Task<HttpResponseMessage> CreateAsync(string id, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/conversations") { Content = JsonContent.Create(new { id }) };
        if (key is not null)
        {
            request.Headers.Add("Idempotency-Key", key);
        }

        return server.Http.SendAsync(request, Ct);
    }

    private Task<HttpResponseMessage> SendAsync(string id, string content, string key, bool stream = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/conversations/{id}/messages")
        {
            Content = JsonContent.Create(new { content, stream, max_tokens = 6, temperature = 0 }),
        };
        request.Headers.Add("Idempotency-Key", key);
        return server.Http.SendAsync(request, Ct);
    }

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(code, body.GetProperty("error").GetProperty("code").GetString());
    }
}
