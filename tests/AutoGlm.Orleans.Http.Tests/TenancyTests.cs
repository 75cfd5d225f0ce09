using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;
using OpenAI.Chat;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>API keys, tenants that own their conversations, isolated caches, per-tenant limits, closed operator routes.</summary>
[Collection(KeyedSiloCollection.Name)]
public sealed class TenancyTests(KeyedSiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, string> Routes => new()
    {
        { "GET", "/v1/models" },
        { "POST", "/v1/chat/completions" },
        { "POST", "/conversations" },
        { "POST", "/conversations/x/messages" },
        { "GET", "/conversations/x" },
        { "DELETE", "/conversations/x" },
        { "GET", "/metrics" },
        { "GET", "/dashboard" },
    };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Every_route_but_healthz_wants_a_valid_key(string method, string path)
    {
        foreach (var key in new string?[] { null, "wrong-key-0123456789" })
        {
            using var client = key is null ? new HttpClient { BaseAddress = server.BaseAddress } : server.As(key);
            using var request = new HttpRequestMessage(new HttpMethod(method), path)
            {
                Content = method == "GET" ? null : JsonContent.Create(new { model = "tiny-chat", content = "Hi" }),
            };
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("invalid_api_key", await CodeAsync(response));
        }

        Assert.Equal(HttpStatusCode.OK, (await new HttpClient { BaseAddress = server.BaseAddress }.GetAsync("/healthz", Ct)).StatusCode);
    }

    [Fact]
    public async Task The_openai_sdk_without_the_right_key_gets_401_and_with_it_a_reply()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 4, Temperature = 0 };
        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            server.ChatWithKey("wrong-key-0123456789").CompleteChatAsync([new UserChatMessage("Hi")], options, Ct));
        Assert.Equal(401, refused.Status);
        var reply = await server.ChatWithKey(KeyedSiloServer.Acme).CompleteChatAsync([new UserChatMessage("Hi")], options, Ct);
        Assert.NotEmpty(reply.Value.Content);
    }

    [Fact]
    public async Task Another_tenant_gets_404_for_a_conversation_it_does_not_own_and_changes_nothing()
    {
        using var acme = server.As(KeyedSiloServer.Acme);
        using var globex = server.As(KeyedSiloServer.Globex);
        var id = "owned-" + Guid.NewGuid().ToString("N");
        Assert.Equal(HttpStatusCode.Created, (await acme.PostAsJsonAsync("/conversations", new { id }, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await acme.PostAsJsonAsync($"/conversations/{id}/messages", new { content = "Hello.", max_tokens = 4 }, Ct)).StatusCode);
        var before = await acme.GetStringAsync($"/conversations/{id}", Ct);

        Assert.Equal("conversation_not_found", await CodeAsync(await globex.GetAsync($"/conversations/{id}", Ct)));
        Assert.Equal("conversation_not_found", await CodeAsync(await globex.PostAsJsonAsync($"/conversations/{id}/messages", new { content = "Mine now." }, Ct)));
        Assert.Equal("conversation_not_found", await CodeAsync(await globex.DeleteAsync($"/conversations/{id}", Ct)));
        // Through X-Conversation-Id the same id names globex's own conversation: acme's is not touched.
        var other = await server.ChatWithKey(KeyedSiloServer.Globex, ("X-Conversation-Id", id))
            .CompleteChatAsync([new UserChatMessage("Mine now.")], new ChatCompletionOptions { MaxOutputTokenCount = 4 }, Ct);
        Assert.NotEmpty(other.Value.Content);
        // And the id is globex's to create too: no squatting across tenants.
        Assert.Equal(HttpStatusCode.Created, (await globex.PostAsJsonAsync("/conversations", new { id = id + "-g" }, Ct)).StatusCode);

        Assert.Equal(before, await acme.GetStringAsync($"/conversations/{id}", Ct));
    }

    [Fact]
    public async Task The_same_history_from_another_tenant_or_cache_salt_reuses_nothing_and_leaves_the_owner_alone()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0 };
        List<ChatMessage> history = [new UserChatMessage($"A secret prefix {Guid.NewGuid():N}.")];
        var acme = server.ChatWithKey(KeyedSiloServer.Acme);
        var first = (await acme.CompleteChatAsync(history, options, Ct)).Value;
        history.Add(new AssistantChatMessage(first.Content[0].Text));
        history.Add(new UserChatMessage("And then?"));

        foreach (var key in new[] { KeyedSiloServer.Globex, KeyedSiloServer.AcmeSalted })
        {
            var replay = (await server.ChatWithKey(key).CompleteChatAsync(history, options, Ct)).Value;
            Assert.Equal(0, replay.Usage.InputTokenDetails.CachedTokenCount);
        }

        // The owner's next stateless turn still finds its conversation and its KV.
        var second = (await acme.CompleteChatAsync(history, options, Ct)).Value;
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount > 0);
    }

    [Fact]
    public async Task A_tenant_past_its_requests_per_minute_gets_429_with_retry_after_while_another_passes()
    {
        using var limited = server.As(KeyedSiloServer.Limited);
        using var acme = server.As(KeyedSiloServer.Acme);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await limited.GetAsync("/v1/models", Ct)).StatusCode);
        }

        using var refused = await limited.GetAsync("/v1/models", Ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("rate_limit_exceeded", await CodeAsync(refused));
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("5", refused.Headers.GetValues("x-ratelimit-limit-requests").Single());
        Assert.Equal("0", refused.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Equal(HttpStatusCode.OK, (await acme.GetAsync("/v1/models", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_tenant_past_its_tokens_per_minute_gets_429_before_the_turn_runs()
    {
        using var frugal = server.As(KeyedSiloServer.Frugal);
        var id = "frugal-" + Guid.NewGuid().ToString("N");
        await frugal.PostAsJsonAsync("/conversations", new { id }, Ct);
        // Each turn reserves its message's length + its max_tokens (296 + 4 = 300): 600 a minute allows two. The bucket
        // refills 10 a second, so the third's 300 is 30 s away however slow the first two were (with 200 + 4 a turn, 12
        // tokens were missing: two refills, and a loaded machine that took 2 s over two turns let the third through).
        var message = new string('a', 296);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add((await frugal.PostAsJsonAsync($"/conversations/{id}/messages", new { content = message, max_tokens = 4 }, Ct)).StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
        var view = await frugal.GetFromJsonAsync<JsonElement>($"/conversations/{id}", Ct);
        Assert.Equal(4, view.GetProperty("messages").GetArrayLength());
    }

    [Fact]
    public async Task A_tenant_at_its_concurrent_turns_gets_429_until_one_ends()
    {
        using var narrow = server.As(KeyedSiloServer.Narrow);
        var ids = new[] { "narrow-a-" + Guid.NewGuid().ToString("N"), "narrow-b-" + Guid.NewGuid().ToString("N") };
        foreach (var id in ids)
        {
            await narrow.PostAsJsonAsync("/conversations", new { id }, Ct);
        }

        var body = new { model = "tiny-chat", stream = true, max_tokens = 1900, ignore_eos = true, messages = new[] { new { role = "user", content = "Go." } } };
        using var longTurn = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        longTurn.Headers.Add("X-Conversation-Id", ids[0]);
        using (var running = await narrow.SendAsync(longTurn, HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, running.StatusCode);
            using var refused = await narrow.PostAsJsonAsync($"/conversations/{ids[1]}/messages", new { content = "Me too.", max_tokens = 4 }, Ct);
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal("rate_limit_exceeded", await CodeAsync(refused));
        }

        // The long turn's client hung up: its permit comes back once the request ends.
        HttpStatusCode status;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        do
        {
            status = (await narrow.PostAsJsonAsync($"/conversations/{ids[1]}/messages", new { content = "Me too.", max_tokens = 4 }, Ct)).StatusCode;
        }
        while (status == HttpStatusCode.TooManyRequests && DateTime.UtcNow < deadline && await Delay());

        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Theory]
    [InlineData("/metrics")]
    [InlineData("/dashboard")]
    public async Task Operator_routes_are_403_for_a_tenant_key_and_open_to_an_admin_key(string path)
    {
        using var tenant = server.As(KeyedSiloServer.Acme);
        using var refused = await tenant.GetAsync(path, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("insufficient_permissions", await CodeAsync(refused));
        // HttpClient drops the Authorization header on a redirect (/dashboard → /dashboard/): ask for the target itself.
        using var admin = server.As(KeyedSiloServer.Admin);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(path == "/dashboard" ? "/dashboard/" : path, Ct)).StatusCode);
    }

    [Fact]
    public async Task A_changed_keys_file_is_picked_up_without_a_restart()
    {
        const string added = "added-key-0123456789";
        using var client = server.As(added);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/v1/models", Ct)).StatusCode);
        try
        {
            await File.WriteAllTextAsync(KeyedSiloServer.KeysFile,
                KeyedSiloServer.Original.Replace("""{"tenant": "ops",""", $$"""{"tenant": "late", "key": "{{added}}"}, {"tenant": "ops",""",
                    StringComparison.Ordinal), Ct);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            HttpStatusCode status;
            do
            {
                status = (await client.GetAsync("/v1/models", Ct)).StatusCode;
            }
            while (status != HttpStatusCode.OK && DateTime.UtcNow < deadline && await Delay());

            Assert.Equal(HttpStatusCode.OK, status);
        }
        finally
        {
            await File.WriteAllTextAsync(KeyedSiloServer.KeysFile, KeyedSiloServer.Original, CancellationToken.None);
        }
    }

    private static async Task<bool> Delay()
    {
        await Task.Delay(250, Ct);
        return true;
    }

    private static async Task<string?> CodeAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        return body.GetProperty("error").GetProperty("code").GetString();
    }
}
