using System.Diagnostics;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;
using AutoGlm.Orleans.Cluster.Tests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using AiChatRole = Microsoft.Extensions.AI.ChatRole;

namespace AutoGlm.Orleans.Cluster.Tests;

[Collection(ThreeSiloCollection.Name)]
public sealed class ConversationTests(ThreeSiloCluster fixture)
{
    private ConversationClient Client => fixture.Conversations;

    [Fact]
    public async Task Thirty_conversations_spread_over_all_silos_stay_on_one_and_reuse_their_history()
    {
        var ct = TestContext.Current.CancellationToken;
        var watch = Stopwatch.StartNew();
        var ids = Enumerable.Range(0, 30).Select(i => Greedy.NewId($"spread{i}")).ToArray();
        var conversations = await Task.WhenAll(ids.Select(async (id, i) =>
        {
            var replies = new List<ConversationReply>();
            for (var turn = 0; turn < 3; turn++)
            {
                replies.Add(await Client.SendAsync(id, $"Hello {i}, this is turn {turn}.", Greedy.Tokens(8), cancellationToken: ct));
            }

            return (Id: id, Replies: replies);
        }));
        TestContext.Current.SendDiagnosticMessage($"30 x 3 turns in {watch.Elapsed}");

        var silos = fixture.Cluster.Silos.Select(s => s.SiloAddress.ToString()).ToHashSet();
        var perSilo = conversations.GroupBy(c => c.Replies[0].Silo).ToDictionary(g => g.Key!, g => g.Count());
        var spread = string.Join(", ", perSilo.Select(p => $"{p.Key}: {p.Value}"));
        TestContext.Current.SendDiagnosticMessage($"conversations per silo: {spread}");
        Assert.True(silos.SetEquals(perSilo.Keys), spread);
        Assert.All(perSilo.Values, count => Assert.InRange(count, 3, 20));

        foreach (var (id, replies) in conversations)
        {
            Assert.All(replies, r => Assert.Equal(replies[0].Silo, r.Silo));
            Assert.Equal(0, replies[0].Usage.CachedTokens);
            for (var turn = 1; turn < replies.Count; turn++)
            {
                var previous = replies[turn - 1];
                var usage = replies[turn].Usage;
                if (previous.FinishReason != ReplyFinishReason.StopSequence)
                {
                    Assert.Equal(Greedy.HeldAfter(previous), usage.CachedTokens);
                }

                Assert.True(usage.CachedTokens > previous.Usage.PromptTokens - 1, $"{id} turn {turn}: {usage}");
                Assert.Equal(0, usage.RecomputedTokens);
                Assert.Equal(usage.PromptTokens, usage.CachedTokens + usage.ComputedTokens);
            }

            var status = await Client.GetStatusAsync(id);
            Assert.Equal(replies[0].Silo, status.Silo);
            Assert.Equal(6, status.Messages);
            Assert.True(status.CachedTokens > 0);
        }
    }

    [Fact]
    public async Task A_reactivated_conversation_returns_to_the_silo_that_still_holds_its_kv()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Greedy.NewId("reactivate");
        var first = await Client.SendAsync(id, "Tell me a fortune.", Greedy.Tokens(8), cancellationToken: ct);
        var silo = fixture.Cluster.Silos.Single(s => s.SiloAddress.ToString() == first.Silo).SiloAddress;
        var local = fixture.Cluster.GetSiloServiceProvider(silo).GetRequiredService<Grains.LocalConversations>();
        Assert.True(local.Contains(Client.Key(id)));

        // Collect every idle activation: the grain deactivates, its KV handle stays parked in the silo's pool.
        var management = fixture.Cluster.Client.GetGrain<IManagementGrain>(0);
        var deadline = Stopwatch.StartNew();
        while (local.Contains(Client.Key(id)) && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            await management.ForceActivationCollection(TimeSpan.Zero, ct);
            await Task.Delay(100, ct);
        }

        Assert.False(local.Contains(Client.Key(id)), "the conversation should have been deactivated");
        var second = await Client.SendAsync(id, "Another one, please.", Greedy.Tokens(8), cancellationToken: ct);
        Assert.Equal(first.Silo, second.Silo);
        Assert.Equal(Greedy.HeldAfter(first), second.Usage.CachedTokens);
        Assert.Equal(0, second.Usage.RecomputedTokens);
    }

    [Fact]
    public async Task The_same_request_id_twice_stores_one_turn_and_returns_the_stored_reply()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Greedy.NewId("idem");
        var first = await Client.SendAsync(id, "Say something.", Greedy.Tokens(6), "request-1", ct);
        var again = await Client.SendAsync(id, "Say something.", Greedy.Tokens(6), "request-1", ct);
        Assert.False(first.Replayed);
        Assert.True(again.Replayed);
        Assert.Equal(first.Text, again.Text);
        Assert.Equal(first.TokenIds, again.TokenIds);

        var streamed = new List<ReplyChunk>();
        await foreach (var chunk in Client.SendStreamingAsync(id, "Say something.", Greedy.Tokens(6), "request-1", ct))
        {
            streamed.Add(chunk);
        }

        var only = Assert.Single(streamed);
        Assert.True(only.Replayed);
        Assert.Equal(first.Text, only.Text);

        var history = await Client.GetHistoryAsync(id);
        Assert.Equal(2, history.Count);
        Assert.Equal([MessageRole.User, MessageRole.Assistant], history.Select(m => m.Role));

        await Client.ResetAsync(id, "reset-1");
        await Client.SendAsync(id, "After the reset.", Greedy.Tokens(4), "request-2", ct);
        await Client.ResetAsync(id, "reset-1");
        Assert.Equal(2, (await Client.GetHistoryAsync(id)).Count);
    }

    [Fact]
    public async Task A_send_during_a_running_turn_is_refused_as_busy_and_stores_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Greedy.NewId("busy");
        var grain = Client.Get(id);
        var text = "";
        await using (var stream = grain.SendStreaming(new TurnRequest("long", "Tell me a long story.", Greedy.Tokens(120)), ct).GetAsyncEnumerator(ct))
        {
            Assert.True(await stream.MoveNextAsync());
            text += stream.Current.Text;
            await Assert.ThrowsAsync<ConversationBusyException>(() => grain.Send(new TurnRequest("other", "Interrupting!", Greedy.Tokens(4)), ct));
            var status = await grain.GetStatus();
            Assert.True(status.IsGenerating);
            while (await stream.MoveNextAsync())
            {
                text += stream.Current.Text;
            }
        }

        var history = await grain.GetHistory();
        Assert.Equal(2, history.Count);
        Assert.Equal("Tell me a long story.", history[0].Content);
        Assert.Equal(text, history[1].Content);

        // The refused request id was not applied: it runs now.
        var later = await grain.Send(new TurnRequest("other", "Interrupting!", Greedy.Tokens(4)), ct);
        Assert.False(later.Replayed);
        Assert.Equal(4, (await grain.GetHistory()).Count);
    }

    [Fact]
    public async Task Bad_input_gets_typed_errors_and_leaves_the_conversation_unchanged()
    {
        var ct = TestContext.Current.CancellationToken;
        var id = Greedy.NewId("bad");
        var grain = Client.Get(id);
        await grain.SetSystemPrompt("system-1", "You are a test.");
        await grain.Send(new TurnRequest("ok-1", "Hello.", Greedy.Tokens(4)), ct);
        var before = await grain.GetHistory();
        var context = (await grain.GetStatus()).ContextLength;
        Assert.True(context > 0);

        await Assert.ThrowsAsync<InvalidConversationRequestException>(() => grain.Send(new TurnRequest("bad-1", "", null), ct));
        await Assert.ThrowsAsync<InvalidConversationRequestException>(() => grain.Send(new TurnRequest("bad-2", "   ", null), ct));
        var huge = string.Join(' ', Enumerable.Repeat("word", context + 16));
        await Assert.ThrowsAsync<ContextLengthExceededException>(() => grain.Send(new TurnRequest("bad-3", huge, null), ct));
        await Assert.ThrowsAsync<InvalidConversationRequestException>(() => grain.Send(new TurnRequest("bad-4", "Hi", new GenerationOptions { Temperature = -1f }), ct));
        await Assert.ThrowsAsync<InvalidConversationRequestException>(() => grain.Send(new TurnRequest("bad-5", "Hi", new GenerationOptions { TopP = 2f }), ct));
        await Assert.ThrowsAsync<InvalidConversationRequestException>(() => grain.Send(new TurnRequest("bad-6", "Hi", new GenerationOptions { MaxNewTokens = 0 }), ct));
        await Assert.ThrowsAsync<ContextLengthExceededException>(() => grain.Send(new TurnRequest("bad-7", "Hi", new GenerationOptions { MaxNewTokens = context * 2 }), ct));
        await Assert.ThrowsAsync<InvalidConversationRequestException>(() => grain.Send(new TurnRequest("", "Hi", null), ct));
        await Assert.ThrowsAsync<InvalidConversationRequestException>(() => grain.SetDefaultOptions("bad-8", new GenerationOptions { TopK = -3 }));
        await Assert.ThrowsAsync<InvalidConversationRequestException>(async () =>
        {
            await foreach (var _ in grain.SendStreaming(new TurnRequest("bad-9", "", null), ct))
            {
            }
        });

        var after = await grain.GetHistory();
        Assert.Equal(before.Count, after.Count);
        Assert.Equal(before.Select(m => (m.Role, m.Content)), after.Select(m => (m.Role, m.Content)));
        Assert.False((await grain.GetStatus()).IsGenerating);

        // A rejected request id was not applied, and the conversation still works.
        var reply = await grain.Send(new TurnRequest("bad-4", "Hi", Greedy.Tokens(4)), ct);
        Assert.False(reply.Replayed);
        Assert.Equal(before.Count + 2, (await grain.GetHistory()).Count);
    }

    [Fact]
    public async Task The_chat_client_drives_a_three_turn_server_side_conversation()
    {
        var ct = TestContext.Current.CancellationToken;
        var chat = fixture.Cluster.Client.ServiceProvider.GetRequiredService<IChatClient>();
        var id = Greedy.NewId("chat");
        var options = new ChatOptions { ConversationId = id, Temperature = 0f, MaxOutputTokens = 6 };

        var first = await chat.GetResponseAsync([new AiChatMessage(AiChatRole.System, "You are brief."), new AiChatMessage(AiChatRole.User, "Hi!")], options, ct);
        Assert.Equal(id, first.ConversationId);
        Assert.Equal(0, first.Usage?.CachedInputTokenCount);

        var second = await chat.GetResponseAsync([new AiChatMessage(AiChatRole.User, "How are you?")], options, ct);
        Assert.True(second.Usage?.CachedInputTokenCount > 0);

        var text = "";
        UsageDetails? usage = null;
        await foreach (var update in chat.GetStreamingResponseAsync([new AiChatMessage(AiChatRole.User, "Bye.")], options, ct))
        {
            Assert.Equal(id, update.ConversationId);
            text += update.Text;
            usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        }

        Assert.NotNull(usage);
        Assert.True(usage.CachedInputTokenCount > second.Usage!.InputTokenCount - 1);

        var history = await Client.GetHistoryAsync(id);
        Assert.Equal(7, history.Count);
        Assert.Equal(MessageRole.System, history[0].Role);
        Assert.Equal("You are brief.", history[0].Content);
        Assert.Equal(["Hi!", "How are you?", "Bye."], history.Where(m => m.Role == MessageRole.User).Select(m => m.Content));
        Assert.Equal(first.Text, history[2].Content);
        Assert.Equal(text, history[6].Content);
    }
}
