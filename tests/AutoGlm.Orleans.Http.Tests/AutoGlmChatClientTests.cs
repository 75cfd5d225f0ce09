using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Http.Tests.Support;
using Microsoft.Extensions.AI;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// The Microsoft.Extensions.AI client over a real gateway connection: the conversation lives on the server, named by
/// ChatOptions.ConversationId, and each turn sends only the new user message.
/// </summary>
public sealed class AutoGlmChatClientTests(SiloServer server) : IAsyncLifetime
{
    private ClientHost? _client;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IChatClient Chat => _client!.Chat;

    public async ValueTask InitializeAsync() => _client = await ClientHost.StartAsync(server, cancellationToken: Ct);

    [Fact]
    public async Task Three_turns_through_one_conversation_id_keep_it_and_reuse_its_cache()
    {
        // Turn 1 names no conversation: the client starts one and says which.
        var options = new ChatOptions { MaxOutputTokens = 4, Temperature = 0 };
        List<ChatMessage> messages = [new(ChatRole.User, "Hello, who are you?")];
        var first = await Chat.GetResponseAsync(messages, options, Ct);
        Assert.False(string.IsNullOrEmpty(first.ConversationId));
        var id = first.ConversationId;

        // Turn 2 continues it; a caller that keeps the whole list still has only the new message sent.
        messages.AddRange(first.Messages);
        messages.Add(new(ChatRole.User, "Tell me more."));
        options.ConversationId = id;
        var second = await Chat.GetResponseAsync(messages, options, Ct);
        Assert.Equal(id, second.ConversationId);

        // Turn 3 streams: every update names the conversation, and the prompt reuses the KV of the turns before.
        messages.AddRange(second.Messages);
        messages.Add(new(ChatRole.User, "And then?"));
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in Chat.GetStreamingResponseAsync(messages, options, Ct))
        {
            updates.Add(update);
        }

        Assert.NotEmpty(updates);
        Assert.All(updates, u => Assert.Equal(id, u.ConversationId));
        var third = updates.ToChatResponse();
        Assert.Equal(id, third.ConversationId);
        Assert.NotNull(third.Usage);
        Assert.True(third.Usage.CachedInputTokenCount > 0, $"cached {third.Usage.CachedInputTokenCount} of {third.Usage.InputTokenCount}");
        Assert.True(third.Usage.InputTokenCount > third.Usage.CachedInputTokenCount);

        var history = await _client!.Conversations.GetHistoryAsync(id!);
        Assert.Equal(["Hello, who are you?", "Tell me more.", "And then?"],
            history.Where(m => m.Role == Abstractions.MessageRole.User).Select(m => m.Content));
        Assert.Equal(6, history.Count);
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("Disabled")]
    public async Task The_truncation_property_is_taken_as_openai_spells_it(string truncation)
    {
        var options = new ChatOptions
        {
            MaxOutputTokens = 2,
            AdditionalProperties = new() { [AutoGlmChatClient.TruncationProperty] = truncation },
        };

        var response = await Chat.GetResponseAsync("Hello.", options, Ct);

        Assert.False(string.IsNullOrEmpty(response.ConversationId));
    }

    [Fact]
    public async Task A_truncation_it_does_not_know_is_refused_before_anything_is_stored()
    {
        var id = "meai-" + Guid.NewGuid().ToString("N");
        var options = new ChatOptions
        {
            ConversationId = id,
            AdditionalProperties = new() { [AutoGlmChatClient.TruncationProperty] = "sometimes" },
        };

        await Assert.ThrowsAsync<ArgumentException>(() => Chat.GetResponseAsync([new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hi.")], options, Ct));

        Assert.False((await _client!.Conversations.GetStatusAsync(id)).Exists);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync();
        }
    }
}
