using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Tests.Support;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class ConversationLogTests
{
    private readonly PromptBuilder _prompts = TinyChat.Prompts();

    [Fact]
    public void Planning_changes_nothing_and_applying_takes_the_change_whole()
    {
        var log = Logs.Empty();
        var change = Logs.PlanTurn(log, _prompts, new TurnRequest("r1", "Hello."), "Hi!");
        Assert.Equal(0, log.Version);
        Assert.Empty(log.Messages);
        Assert.False(log.Applied.TryGet("r1", out _));
        Assert.Null(change.ExpectedIncarnation);
        Assert.Equal(0, change.ExpectedVersion);

        log.Apply(change);
        Assert.Equal(1, log.Version);
        Assert.Equal(change.Incarnation, log.Incarnation);
        Assert.Equal(["Hello.", "Hi!"], log.Messages.Select(m => m.Content));
        Assert.All(log.Messages, m => Assert.Equal("r1", m.RequestId));
        Assert.Equal(1, log.Header.Turns);
        Assert.True(log.Applied.TryGet("r1", out var applied));
        Assert.Equal(1, applied.MessageIndex);

        var second = Logs.PlanTurn(log, _prompts, new TurnRequest("r2", "Again."), "Yes.");
        Assert.Equal(log.Incarnation, second.ExpectedIncarnation);
        Assert.Equal(1, second.ExpectedVersion);
        Assert.Equal(log.Incarnation, second.Incarnation);
        Assert.Equal(2, second.Version);
    }

    [Fact]
    public void A_change_planned_on_another_version_is_never_applied()
    {
        var log = Logs.Empty();
        var stale = Logs.PlanTurn(log, _prompts, new TurnRequest("r1", "Hello."), "Hi!");
        log.Turn(_prompts, "r0", "First.");
        Assert.Throws<InvalidOperationException>(() => log.Apply(stale));
        Assert.Equal(2, log.Messages.Count);
    }

    [Fact]
    public void A_replay_returns_the_stored_reply_text_and_generated_ids()
    {
        var log = Logs.Empty();
        log.Turn(_prompts, "r1", "Hello.", "Hi there!");
        Assert.True(log.Applied.TryGet("r1", out var applied));
        var replay = log.Replay("r1", applied);
        Assert.True(replay.Replayed);
        Assert.Equal("Hi there!", replay.Text);
        Assert.Equal(_prompts.Encode("Hi there!"), replay.TokenIds);
        Assert.Equal("silo-a", replay.Silo);
    }

    [Fact]
    public void A_reset_drops_the_messages_keeps_the_request_ids_and_counts_the_dropped_messages_in_the_base()
    {
        var log = Logs.Empty();
        log.Apply(log.PlanSystemPrompt("s1", 1, new SystemPromptRecord { Text = "Be brief.", TokenIds = _prompts.Encode("<|system|>\nBe brief.\n") }, Logs.Now));
        log.Turn(_prompts, "r1", "Hello.", "Hi!");
        log.Apply(log.PlanReset("reset-1", 2, Logs.Now));
        Assert.Empty(log.Messages);
        Assert.Equal("Be brief.", log.SystemPrompt.Text);
        Assert.Equal(2, log.Header.Base);
        Assert.True(log.Applied.TryGet("r1", out var old));
        // The reply's text is gone with the reset; the retry still learns the turn was applied, once.
        Assert.Equal("", log.Replay("r1", old).Text);

        log.Turn(_prompts, "r2", "After.", "Fine.");
        Assert.True(log.Applied.TryGet("r2", out var fresh));
        Assert.Equal(3, fresh.MessageIndex);
        Assert.Equal("Fine.", log.Replay("r2", fresh).Text);
        Assert.Equal(2, log.Header.Turns);
    }

    [Fact]
    public void The_idempotency_record_is_bounded_and_forgets_the_oldest_first()
    {
        var log = Logs.Empty(maxRequestIds: 3);
        for (var i = 0; i < 5; i++)
        {
            log.Turn(_prompts, $"r{i}", $"Message {i}.");
        }

        Assert.Equal(3, log.Applied.Count);
        Assert.False(log.Applied.TryGet("r0", out _));
        Assert.False(log.Applied.TryGet("r1", out _));
        Assert.True(log.Applied.TryGet("r4", out _));

        var restored = IdempotencyRecord.From([KeyValuePair.Create("b", new AppliedChange { Version = 2 }),
            KeyValuePair.Create("a", new AppliedChange { Version = 1 }), KeyValuePair.Create("c", new AppliedChange { Version = 3 })], 2);
        Assert.False(restored.TryGet("a", out _));
        Assert.True(restored.TryGet("c", out _));
    }

    [Fact]
    public void An_import_stores_the_segments_the_template_renders_and_the_history_the_api_shows()
    {
        var log = Logs.Empty();
        var seed = HistoryImport.Build(_prompts, [Logs.System("Be brief."), Logs.User("Hi"), Logs.Assistant("Hello!")], log.SystemPrompt, "imp",
            Logs.Now, reserve: 1);
        log.Apply(log.PlanImport("imp", 9, seed.SystemPrompt, seed.Messages, Logs.Now));
        var history = log.ToHistory();
        Assert.Equal([MessageRole.System, MessageRole.User, MessageRole.Assistant], history.Select(m => m.Role));
        Assert.Equal(_prompts.Encode("<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello!<|endoftext|>").Length, log.HistoryTokens);
        Assert.Equal(ReplyFinishReason.Stop, history[2].FinishReason);
    }

    [Fact]
    public void Restoring_from_the_store_gives_the_same_log()
    {
        var log = Logs.Empty();
        log.Turn(_prompts, "r1", "Hello.");
        log.Turn(_prompts, "r2", "Again.");
        var stored = new StoredConversation(log.Incarnation!, log.Version, log.Header, log.SystemPrompt, log.DefaultOptions, [.. log.Messages],
            [KeyValuePair.Create("r1", Get(log, "r1")), KeyValuePair.Create("r2", Get(log, "r2"))]);
        var restored = ConversationLog.From(stored, 256);
        Assert.Equal(log.Version, restored.Version);
        Assert.Equal(log.HistoryTokens, restored.HistoryTokens);
        Assert.Equal(log.Messages, restored.Messages);
        Assert.True(restored.Applied.TryGet("r2", out _));
    }

    private static AppliedChange Get(ConversationLog log, string key) => log.Applied.TryGet(key, out var a) ? a : throw new KeyNotFoundException(key);
}
