#pragma warning disable OPENAI001 // the Responses and Conversations clients are marked for evaluation in OpenAI 2.15
using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;
using Microsoft.Extensions.AI;
using OpenAI.Conversations;
using OpenAI.Responses;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>The OpenAI .NET SDK's ResponsesClient and ConversationClient, unmodified, against /v1/responses and /v1/conversations.</summary>
public sealed class ResponsesApiTests(SiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ResponsesClient Responses() => new(new ApiKeyCredential("not-needed"),
        new ResponsesClientOptions { Endpoint = new Uri(server.BaseAddress, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    private ConversationClient Conversations() => new(new ApiKeyCredential("not-needed"),
        new ConversationClientOptions { Endpoint = new Uri(server.BaseAddress, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    private CreateResponseOptions Turn(string text, string? previous = null, int maxTokens = 16) =>
        new(server.Model, [ResponseItem.CreateUserMessageItem(text)])
        {
            PreviousResponseId = previous, MaxOutputTokenCount = maxTokens, Temperature = 0,
        };

    [Fact]
    public async Task A_chain_of_five_turns_reuses_each_previous_turn_from_the_cache()
    {
        var client = Responses();
        ResponseResult? previous = null;
        for (var turn = 0; turn < 5; turn++)
        {
            var response = (await client.CreateResponseAsync(Turn($"Turn {turn}: tell me about the sea.", previous?.Id), Ct)).Value;
            Assert.StartsWith("resp_", response.Id);
            // A reply cut by max_output_tokens is "incomplete", as OpenAI's is.
            Assert.Contains(response.Status, new ResponseStatus?[] { ResponseStatus.Completed, ResponseStatus.Incomplete });
            Assert.False(string.IsNullOrEmpty(response.GetOutputText()));
            if (previous is not null)
            {
                var reused = response.Usage.InputTokenDetails.CachedTokenCount;
                var before = previous.Usage.InputTokenCount + previous.Usage.OutputTokenCount;
                Assert.True(reused >= 0.8 * before, $"turn {turn}: {reused} cached of the previous turn's {before} tokens");
                Assert.Equal(previous.Id, response.PreviousResponseId);
            }

            previous = response;
        }

        var stored = (await client.GetResponseAsync(previous!.Id, Ct)).Value;
        Assert.Equal(previous.GetOutputText(), stored.GetOutputText());
        Assert.Equal(previous.Usage.OutputTokenCount, stored.Usage.OutputTokenCount);
        var inputs = new List<ResponseItem>();
        await foreach (var item in client.GetResponseInputItemsAsync(previous.Id, Ct))
        {
            inputs.Add(item);
        }

        var message = Assert.IsAssignableFrom<MessageResponseItem>(Assert.Single(inputs));
        Assert.Equal("Turn 4: tell me about the sea.", message.Content[0].Text);
    }

    [Fact]
    public async Task Streaming_sends_the_sdk_event_sequence_and_the_deltas_make_the_final_text()
    {
        var text = new StringBuilder();
        string? completed = null;
        var kinds = new List<string>();
        var streamed = Turn("Tell me a story.", maxTokens: 12);
        streamed.StreamingEnabled = true;
        await foreach (var update in await Responses().CreateResponseStreamingAsync(streamed, Ct))
        {
            kinds.Add(update.GetType().Name);
            switch (update)
            {
                case StreamingResponseOutputTextDeltaUpdate delta:
                    text.Append(delta.Delta);
                    break;
                case StreamingResponseCompletedUpdate done:
                    completed = done.Response.GetOutputText();
                    break;
                case StreamingResponseIncompleteUpdate incomplete:
                    completed = incomplete.Response.GetOutputText();
                    break;
            }
        }

        Assert.Equal(text.ToString(), completed);
        Assert.Equal(nameof(StreamingResponseCreatedUpdate), kinds[0]);
        Assert.Contains(kinds[^1], new[] { nameof(StreamingResponseCompletedUpdate), nameof(StreamingResponseIncompleteUpdate) });

        // On the wire: every event OpenAI sends, in order, numbered from 0.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/responses")
        {
            Content = new StringContent($$"""{"model":"{{server.Model}}","input":"Hello","stream":true,"max_output_tokens":6}""", Encoding.UTF8, "application/json"),
        };
        using var response = await server.Http.SendAsync(request, Ct);
        var events = (await response.Content.ReadAsStringAsync(Ct)).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => JsonDocument.Parse(e.Split("data: ", 2)[1]).RootElement).ToList();
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.GetProperty("sequence_number").GetInt32()));
        var types = events.Select(e => e.GetProperty("type").GetString()).Where(t => t != "response.output_text.delta").ToArray();
        Assert.Equal(
            ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added", "response.output_text.done",
             "response.content_part.done", "response.output_item.done", types[^1] == "response.incomplete" ? "response.incomplete" : "response.completed"],
            types);
    }

    [Fact]
    public async Task Two_forks_of_turn_two_reuse_the_shared_prefix_and_the_main_chain_keeps_its_cache()
    {
        var client = Responses();
        var first = (await client.CreateResponseAsync(Turn("Once upon a time there was a lighthouse."), Ct)).Value;
        var second = (await client.CreateResponseAsync(Turn("What did its keeper do?", first.Id), Ct)).Value;
        var third = (await client.CreateResponseAsync(Turn("And at night?", second.Id), Ct)).Value;
        var shared = second.Usage.InputTokenCount + second.Usage.OutputTokenCount;

        var forkA = (await client.CreateResponseAsync(Turn("Tell it differently.", second.Id), Ct)).Value;
        var forkB = (await client.CreateResponseAsync(Turn("Now make it sad.", second.Id), Ct)).Value;
        foreach (var fork in new[] { forkA, forkB })
        {
            Assert.False(string.IsNullOrEmpty(fork.GetOutputText()));
            Assert.True(fork.Usage.InputTokenDetails.CachedTokenCount >= 0.8 * shared,
                $"a fork reused {fork.Usage.InputTokenDetails.CachedTokenCount} of the {shared} tokens it shares with its parent");
        }

        var main = (await client.CreateResponseAsync(Turn("Who visited?", third.Id), Ct)).Value;
        Assert.True(main.Usage.InputTokenDetails.CachedTokenCount >= 0.8 * (third.Usage.InputTokenCount + third.Usage.OutputTokenCount));
        var onFork = (await client.CreateResponseAsync(Turn("Go on.", forkA.Id), Ct)).Value;
        Assert.True(onFork.Usage.InputTokenDetails.CachedTokenCount >= 0.8 * (forkA.Usage.InputTokenCount + forkA.Usage.OutputTokenCount));
    }

    [Fact]
    public async Task Three_turns_on_one_conversation_then_its_items_in_order()
    {
        var conversations = Conversations();
        var created = await conversations.CreateConversationAsync(BinaryContent.Create(BinaryData.FromString("""{"metadata":{"topic":"sea"}}""")));
        var conversation = JsonDocument.Parse(created.GetRawResponse().Content).RootElement;
        var id = conversation.GetProperty("id").GetString()!;
        Assert.Equal("sea", conversation.GetProperty("metadata").GetProperty("topic").GetString());

        var client = Responses();
        var replies = new List<string>();
        foreach (var text in new[] { "First question.", "Second question.", "Third question." })
        {
            var options = Turn(text);
            options.ConversationOptions = new ResponseConversationOptions(id);
            var response = (await client.CreateResponseAsync(options, Ct)).Value;
            replies.Add(response.GetOutputText());
        }

        var items = new List<(string Role, string Text)>();
        await foreach (var page in conversations.GetConversationItemsAsync(id, limit: 100, order: "asc", after: null, include: null, options: null).GetRawPagesAsync())
        {
            foreach (var item in JsonDocument.Parse(page.GetRawResponse().Content).RootElement.GetProperty("data").EnumerateArray())
            {
                items.Add((item.GetProperty("role").GetString()!, item.GetProperty("content")[0].GetProperty("text").GetString()!));
            }
        }

        Assert.Equal(
            [("user", "First question."), ("assistant", replies[0]), ("user", "Second question."), ("assistant", replies[1]),
             ("user", "Third question."), ("assistant", replies[2])],
            items);
        await conversations.DeleteConversationAsync(id, Ct);
        using var gone = await server.Http.GetAsync($"/v1/conversations/{id}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Truncation_auto_answers_far_past_the_window_and_refills_once_per_half_window()
    {
        var client = Responses();
        var words = string.Join(' ', Enumerable.Repeat("waves", 90));
        string? previous = null;
        var refills = 0;
        var input = 0L;
        var lastTruncated = 0;
        for (var turn = 0; turn < 30; turn++)
        {
            var options = Turn($"{turn}: {words}", previous, maxTokens: 24);
            options.TruncationMode = ResponseTruncationMode.Auto;
            var response = (await client.CreateResponseAsync(options, Ct)).Value;
            var raw = JsonDocument.Parse(await GetRawAsync(response.Id)).RootElement;
            var truncated = raw.GetProperty("usage").GetProperty("truncated_tokens").GetInt32();
            refills += truncated > lastTruncated ? 1 : 0;
            lastTruncated = truncated;
            input += response.Usage.InputTokenCount - response.Usage.InputTokenDetails.CachedTokenCount;
            previous = response.Id;
        }

        // ~115 tokens a turn for 30 turns (~3,500 tokens) through a 2,048-token window: each refill frees half of it.
        Assert.InRange(refills, 1, 30 * 115 / 1024 + 1);
        Assert.True(lastTruncated > 0);

        var disabled = Turn($"one more: {words}", previous, maxTokens: 1500);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.CreateResponseAsync(disabled, Ct));
        Assert.Equal(400, error.Status);
        Assert.Contains("context_length_exceeded", error.GetRawResponse()!.Content.ToString());
    }

    [Fact]
    public async Task A_deleted_response_is_404_and_cannot_be_continued()
    {
        var client = Responses();
        var first = (await client.CreateResponseAsync(Turn("Remember this."), Ct)).Value;
        var second = (await client.CreateResponseAsync(Turn("And this.", first.Id), Ct)).Value;
        await client.DeleteResponseAsync(second.Id, Ct);

        Assert.Equal(404, (await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync(second.Id, Ct))).Status);
        Assert.Equal(404, (await Assert.ThrowsAsync<ClientResultException>(() => client.CreateResponseAsync(Turn("Again.", second.Id), Ct))).Status);
        Assert.Equal(404, (await Assert.ThrowsAsync<ClientResultException>(() => client.DeleteResponseAsync(second.Id, Ct))).Status);
        // The earlier turn is still there, and continuing it forks.
        Assert.Equal(first.GetOutputText(), (await client.GetResponseAsync(first.Id, Ct)).Value.GetOutputText());
    }

    [Fact]
    public async Task Store_false_answers_and_keeps_nothing()
    {
        var options = Turn("Forget me.");
        options.StoredOutputEnabled = false;
        var response = (await Responses().CreateResponseAsync(options, Ct)).Value;
        Assert.False(string.IsNullOrEmpty(response.GetOutputText()));
        Assert.Equal(404, (await Assert.ThrowsAsync<ClientResultException>(() => Responses().GetResponseAsync(response.Id, Ct))).Status);
    }

    [Fact]
    public async Task The_sdks_own_chat_client_holds_a_three_turn_conversation_by_its_id()
    {
        IChatClient chat = Responses().AsIChatClient(server.Model);
        var options = new ChatOptions { MaxOutputTokens = 12, Temperature = 0 };
        var replies = new List<ChatResponse>();
        foreach (var text in new[] { "Hello!", "How are you?", "Tell me more." })
        {
            var reply = await chat.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, text)], options, Ct);
            Assert.False(string.IsNullOrEmpty(reply.Text));
            Assert.False(string.IsNullOrEmpty(reply.ConversationId));
            options.ConversationId = reply.ConversationId;
            replies.Add(reply);
        }

        Assert.True(replies[2].Usage!.CachedInputTokenCount >= 0.8 * (replies[1].Usage!.InputTokenCount + replies[1].Usage!.OutputTokenCount));
    }

    [Fact]
    public async Task A_retry_with_the_same_idempotency_key_returns_the_first_response_and_stores_one_turn()
    {
        var key = "resp-retry-" + Guid.NewGuid().ToString("N");
        var first = await PostAsync($$"""{"model":"{{server.Model}}","input":"Count to three.","max_output_tokens":8}""", key);
        var retry = await PostAsync($$"""{"model":"{{server.Model}}","input":"Count to three.","max_output_tokens":8}""", key);
        Assert.Equal(first.GetProperty("id").GetString(), retry.GetProperty("id").GetString());
        Assert.Equal(first.GetProperty("output_text").GetString(), retry.GetProperty("output_text").GetString());

        // A continuation retried the same way: one turn stored after the first, then the chain goes on from it.
        var previous = first.GetProperty("id").GetString();
        var next = "resp-next-" + Guid.NewGuid().ToString("N");
        var second = await PostAsync($$"""{"model":"{{server.Model}}","input":"Go on.","previous_response_id":"{{previous}}","max_output_tokens":8}""", next);
        var secondRetry = await PostAsync($$"""{"model":"{{server.Model}}","input":"Go on.","previous_response_id":"{{previous}}","max_output_tokens":8}""", next);
        Assert.Equal(second.GetProperty("id").GetString(), secondRetry.GetProperty("id").GetString());
        var items = new List<ResponseItem>();
        await foreach (var item in Responses().GetResponseInputItemsAsync(second.GetProperty("id").GetString()!, Ct))
        {
            items.Add(item);
        }

        Assert.Single(items);
        // The same key with another input is refused, not applied.
        using var reused = new HttpRequestMessage(HttpMethod.Post, "/v1/responses")
        {
            Content = new StringContent($$"""{"model":"{{server.Model}}","input":"Something else.","max_output_tokens":8}""", Encoding.UTF8, "application/json"),
        };
        reused.Headers.Add("Idempotency-Key", key);
        using var refused = await server.Http.SendAsync(reused, Ct);
        Assert.Equal(422, (int)refused.StatusCode);
    }

    private async Task<JsonElement> PostAsync(string body, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/responses") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await server.Http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Theory]
    [InlineData("both", 400, "invalid_request")]
    [InlineData("unknown-previous", 404, "response_not_found")]
    [InlineData("garbage-previous", 404, "response_not_found")]
    [InlineData("empty-input", 400, "invalid_value")]
    [InlineData("empty-list", 400, "invalid_value")]
    [InlineData("image", 400, "invalid_value")]
    [InlineData("tool-call", 400, "invalid_value")]
    [InlineData("zero-tokens", 400, "invalid_value")]
    [InlineData("bad-truncation", 400, "invalid_value")]
    [InlineData("unknown-conversation", 404, "conversation_not_found")]
    public async Task Bad_requests_get_openai_shaped_errors(string name, int status, string code)
    {
        var unknown = "resp_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("conv_nothing\u001freq")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var model = server.Model;
        var body = name switch
        {
            "both" => $$"""{"model":"{{model}}","input":"Hi","previous_response_id":"{{unknown}}","conversation":"conv_x"}""",
            "unknown-previous" => $$"""{"model":"{{model}}","input":"Hi","previous_response_id":"{{unknown}}"}""",
            "garbage-previous" => $$"""{"model":"{{model}}","input":"Hi","previous_response_id":"resp_!!"}""",
            "empty-input" => $$"""{"model":"{{model}}","input":"  "}""",
            "empty-list" => $$"""{"model":"{{model}}","input":[]}""",
            "image" => $$"""{"model":"{{model}}","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}""",
            "tool-call" => $$"""{"model":"{{model}}","input":[{"type":"function_call_output","call_id":"c","output":"{}"}]}""",
            "zero-tokens" => $$"""{"model":"{{model}}","input":"Hi","max_output_tokens":0}""",
            "bad-truncation" => $$"""{"model":"{{model}}","input":"Hi","truncation":"sometimes"}""",
            "unknown-conversation" => $$$"""{"model":"{{{model}}}","input":"Hi","conversation":{"id":"conv_never"}}""",
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };
        using var response = await server.Http.PostAsync("/v1/responses", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == (int)response.StatusCode, text);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        if (name is "image" or "tool-call")
        {
            Assert.Contains("supported", error.GetProperty("message").GetString());
        }
    }

    private async Task<string> GetRawAsync(string responseId)
    {
        using var response = await server.Http.GetAsync($"/v1/responses/{responseId}", Ct);
        return await response.Content.ReadAsStringAsync(Ct);
    }
}
