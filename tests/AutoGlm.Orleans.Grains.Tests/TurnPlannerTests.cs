using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Tests.Support;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class TurnPlannerTests
{
    private readonly PromptBuilder _prompts = TinyChat.Prompts();

    [Fact]
    public void A_turn_prompt_is_the_stored_ids_then_the_user_segment_then_the_generation_prompt()
    {
        var log = Logs.Empty();
        log.Turn(_prompts, "r1", "Hello there.");
        log.Turn(_prompts, "r2", "And again.");
        var plan = TurnPlanner.Plan(log, new TurnRequest("r3", "Third."), "c1", _prompts, Logs.Now);

        var history = new List<int>();
        log.CopyHistory(history);
        Assert.Equal(log.HistoryTokens, history.Count);
        Assert.Equal([.. history, .. plan.UserIds, .. plan.GenerationPromptIds], plan.Work.PromptTokenIds);
        // The ids equal tokenizing the whole rendered conversation: prefix reuse depends on it.
        var chat = log.ToHistory().Select(m => new ChatMessage(m.Role == MessageRole.User ? ChatRole.User : ChatRole.Assistant, m.Content)).ToList();
        chat.Add(new ChatMessage(ChatRole.User, "Third."));
        Assert.Equal(TinyChat.Tokenizer.EncodeToIds(ChatTemplates.Get("tiny-chat").Render(chat, addGenerationPrompt: true)), plan.Work.PromptTokenIds);
        Assert.Equal(TurnPlanner.DefaultMaxNewTokens, plan.Work.Options.MaxNewTokens);
    }

    [Fact]
    public void Refusals_are_typed_and_come_before_anything_runs()
    {
        var log = Logs.Empty();
        var context = _prompts.ContextLength;
        Assert.Throws<InvalidConversationRequestException>(() => Plan(log, new TurnRequest("r", "  ")));
        Assert.Throws<InvalidConversationRequestException>(() => Plan(log, new TurnRequest("r", "Hi", new GenerationOptions { Temperature = -1 })));
        Assert.Throws<ContextLengthExceededException>(() => Plan(log, new TurnRequest("r", "Hi", new GenerationOptions { MaxNewTokens = context })));
        Assert.Throws<ContextLengthExceededException>(() => Plan(log, new TurnRequest("r", string.Join(' ', Enumerable.Repeat("word", context)))));
        Assert.Throws<ConversationNotFoundException>(() => Plan(log, new TurnRequest("r", "Hi") { RequireExisting = true }));
        var tooMany = Enumerable.Range(0, context).Select(i => i % 2 == 0 ? Logs.User("u") : Logs.Assistant("a")).ToArray();
        Assert.Throws<ContextLengthExceededException>(() => Plan(log, new TurnRequest("r", "Hi") { Seed = tooMany }));
        Assert.Throws<InvalidConversationRequestException>(() => Plan(log, new TurnRequest("r", "Hi") { Seed = [Logs.User("u"), Logs.System("late")] }));
        Assert.Equal(0, log.Version);
    }

    [Fact]
    public void The_room_left_caps_the_default_reply_length()
    {
        var log = Logs.Empty();
        var words = string.Join(' ', Enumerable.Repeat("word", 1900));
        var plan = Plan(log, new TurnRequest("r", words));
        Assert.Equal(_prompts.ContextLength - plan.Work.PromptTokenIds.Count, plan.Work.Options.MaxNewTokens);
    }

    [Fact]
    public void A_seed_is_planned_into_the_prompt_and_committed_with_the_turn_and_ignored_once_the_conversation_holds_messages()
    {
        var log = Logs.Empty();
        IReadOnlyList<ConversationMessage> seed = [Logs.System("Be brief."), Logs.User("Hi"), Logs.Assistant("Hello!")];
        var change = log.Turn(_prompts, "r1", "How are you?", seed: seed);

        Assert.Equal(1, log.Version);
        Assert.Equal("Be brief.", log.SystemPrompt.Text);
        Assert.Equal(["Hi", "Hello!", "How are you?", "Sure."], log.Messages.Select(m => m.Content));
        Assert.Equal(4, change.Appended.Count);
        var chat = new List<ChatMessage> { new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Hello!") };
        var expected = TinyChat.Tokenizer.EncodeToIds(ChatTemplates.Get("tiny-chat").Render(chat, addGenerationPrompt: false));
        var stored = new List<int>();
        log.CopyHistory(stored);
        Assert.Equal(expected, stored.Take(expected.Count));

        var next = Plan(log, new TurnRequest("r2", "Again.") { Seed = [Logs.User("ignored")] });
        Assert.Null(next.Seed);
    }

    /// <summary>A 4,096-message history renders each message a bounded number of times: the work is linear in the request.</summary>
    [Fact]
    public void Planning_a_seed_renders_each_message_a_bounded_number_of_times()
    {
        var counting = new CountingTemplate(ChatTemplates.Get("tiny-chat"));
        var prompts = TinyChat.Prompts(counting);
        var short100 = Enumerable.Range(0, 100).Select(i => i % 2 == 0 ? Logs.User("hi") : Logs.Assistant("ok")).ToArray();
        Plan(Logs.Empty(), new TurnRequest("r", "Go.") { Seed = short100 }, prompts);
        var per100 = counting.MessagesRendered;
        Assert.InRange(per100, 100, 100 * 3 + 10);

        // Beyond the window: refused after rendering only what fits (about 2,048 tokens' worth), not all 2,000 messages.
        var huge = Enumerable.Range(0, 2000).Select(i => i % 2 == 0 ? Logs.User(string.Join(' ', Enumerable.Repeat("zebra", 40))) : Logs.Assistant("ok")).ToArray();
        var before = counting.MessagesRendered;
        Assert.Throws<ContextLengthExceededException>(() => Plan(Logs.Empty(), new TurnRequest("r", "Go.") { Seed = huge }, prompts));
        Assert.InRange(counting.MessagesRendered - before, 1, 400);

        // More messages than the window has tokens: refused before anything renders.
        var many = Enumerable.Range(0, 4096).Select(i => i % 2 == 0 ? Logs.User("u") : Logs.Assistant("a")).ToArray();
        before = counting.MessagesRendered;
        Assert.Throws<ContextLengthExceededException>(() => Plan(Logs.Empty(), new TurnRequest("r", "Go.") { Seed = many }, prompts));
        Assert.Equal(before, counting.MessagesRendered);
    }

    private PlannedTurn Plan(ConversationLog log, TurnRequest request, PromptBuilder? prompts = null) =>
        TurnPlanner.Plan(log, request, "c1", prompts ?? _prompts, Logs.Now);
}
