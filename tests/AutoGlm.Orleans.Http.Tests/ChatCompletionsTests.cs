using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;
using OpenAI.Chat;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>The OpenAI .NET SDK, unmodified, against POST /v1/chat/completions on a real Kestrel.</summary>
public sealed class ChatCompletionsTests(SiloServer server)
{
    private const string ConversationHeader = "X-Conversation-Id";

    [Fact]
    public async Task NonStreaming_returns_a_completion_with_usage_and_names_the_conversation()
    {
        var result = await server.Chat().CompleteChatAsync([new UserChatMessage("Hello there")],
            new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 }, TestContext.Current.CancellationToken);

        var completion = result.Value;
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.NotEmpty(completion.Content);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 8);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.True(result.GetRawResponse().Headers.TryGetValue(ConversationHeader, out var conversation));
        Assert.False(string.IsNullOrEmpty(conversation));
    }

    [Fact]
    public async Task Streaming_sends_chunks_then_usage()
    {
        var text = new System.Text.StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        var updates = 0;
        await foreach (var update in server.Chat().CompleteChatStreamingAsync([new UserChatMessage("Tell me a story")],
                           new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0 }, TestContext.Current.CancellationToken))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.True(updates >= 3, $"{updates} updates");
        Assert.NotEqual(0, text.Length);
        Assert.NotNull(finish);
        Assert.NotNull(usage);
        Assert.InRange(usage.OutputTokenCount, 1, 6);
    }

    [Fact]
    public async Task Stateless_four_turn_conversation_reuses_the_cache_from_turn_two()
    {
        var chat = server.Chat();
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 6, Temperature = 0 };
        var messages = new List<ChatMessage> { new SystemChatMessage("You are terse.") };
        string? conversation = null;
        for (var turn = 1; turn <= 4; turn++)
        {
            messages.Add(new UserChatMessage($"Turn {turn}: what comes next?"));
            var result = await chat.CompleteChatAsync(messages, options, TestContext.Current.CancellationToken);
            var usage = result.Value.Usage;
            Assert.True(result.GetRawResponse().Headers.TryGetValue(ConversationHeader, out var id));
            if (turn == 1)
            {
                conversation = id;
            }
            else
            {
                Assert.Equal(conversation, id);
                Assert.True(usage.InputTokenDetails.CachedTokenCount > 0, $"turn {turn}: no cached tokens");
                Assert.True(usage.InputTokenDetails.CachedTokenCount < usage.InputTokenCount);
            }

            messages.Add(new AssistantChatMessage(result.Value));
        }
    }

    [Fact]
    public async Task Two_continuations_of_one_history_fork_into_different_conversations()
    {
        var chat = server.Chat();
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 4, Temperature = 0 };
        var first = await chat.CompleteChatAsync([new UserChatMessage("A shared beginning")], options, TestContext.Current.CancellationToken);
        List<ChatMessage> history = [new UserChatMessage("A shared beginning"), new AssistantChatMessage(first.Value)];

        var a = await chat.CompleteChatAsync([.. history, new UserChatMessage("Branch A")], options, TestContext.Current.CancellationToken);
        var b = await chat.CompleteChatAsync([.. history, new UserChatMessage("Branch B")], options, TestContext.Current.CancellationToken);

        var origin = Header(first);
        Assert.Equal(origin, Header(a));
        Assert.NotEqual(origin, Header(b));

        // Each branch continues on its own conversation.
        var a2 = await chat.CompleteChatAsync([.. history, new UserChatMessage("Branch A"), new AssistantChatMessage(a.Value), new UserChatMessage("More A")],
            options, TestContext.Current.CancellationToken);
        var b2 = await chat.CompleteChatAsync([.. history, new UserChatMessage("Branch B"), new AssistantChatMessage(b.Value), new UserChatMessage("More B")],
            options, TestContext.Current.CancellationToken);
        Assert.Equal(Header(a), Header(a2));
        Assert.Equal(Header(b), Header(b2));
        Assert.True(b2.Value.Usage.InputTokenDetails.CachedTokenCount > 0);

        static string Header(System.ClientModel.ClientResult result) =>
            result.GetRawResponse().Headers.TryGetValue(ConversationHeader, out var id) ? id! : throw new InvalidOperationException("no conversation header");
    }

    [Fact]
    public async Task X_Conversation_Id_continues_the_named_conversation_and_rejects_a_different_history()
    {
        var id = "named-" + Guid.NewGuid().ToString("N");
        var first = await PostAsync(id, """[{"role":"user","content":"Hi, remember me"}]""");
        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal(id, first.Conversation);

        // Stateful style: only the new message.
        var second = await PostAsync(id, """[{"role":"user","content":"Second message"}]""");
        Assert.Equal(HttpStatusCode.OK, second.Status);
        Assert.Equal(id, second.Conversation);
        Assert.True(second.Body.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32() > 0);

        // A history that is not the stored one.
        var wrong = await PostAsync(id, """[{"role":"user","content":"Something else"},{"role":"assistant","content":"x"},{"role":"user","content":"y"}]""");
        Assert.Equal(HttpStatusCode.Conflict, wrong.Status);
        Assert.Equal("conversation_mismatch", wrong.Body.GetProperty("error").GetProperty("code").GetString());

        async Task<(HttpStatusCode Status, string? Conversation, JsonElement Body)> PostAsync(string conversation, string messages)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent($$"""{"model":"{{server.Model}}","max_tokens":4,"temperature":0,"messages":{{messages}}}""",
                    System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add(ConversationHeader, conversation);
            using var response = await server.Http.SendAsync(request, TestContext.Current.CancellationToken);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
            return (response.StatusCode, response.Headers.TryGetValues(ConversationHeader, out var values) ? values.First() : null, body);
        }
    }

    [Fact]
    public async Task Models_lists_the_served_model()
    {
        var models = await server.Http.GetFromJsonAsync<JsonElement>("/v1/models", TestContext.Current.CancellationToken);
        Assert.Equal("list", models.GetProperty("object").GetString());
        Assert.Equal(server.Model, models.GetProperty("data")[0].GetProperty("id").GetString());
    }
}
