using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Tests.Support;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Tests;

/// <summary>The context-window policy, planned without Orleans: what the model sees once a conversation outgrows its window.</summary>
public sealed class TruncationTests
{
    private static readonly GenerationOptions Auto = new() { Truncation = TruncationMode.Auto, MaxNewTokens = 64 };

    private readonly PromptBuilder _prompts = TinyChat.Prompts();

    private static string Words(int count, string word) => string.Join(' ', Enumerable.Repeat(word, count));

    [Fact]
    public void Disabled_refuses_an_overflow_with_context_length_exceeded_and_changes_nothing()
    {
        var log = Filled(system: "Be brief.", turns: 12);
        var version = log.Version;
        var request = new TurnRequest("over", Words(300, "more"), new GenerationOptions { MaxNewTokens = 64 });

        Assert.Throws<ContextLengthExceededException>(() => TurnPlanner.Plan(log, request, "c1", _prompts, Logs.Now));
        Assert.Equal(version, log.Version);
        Assert.Equal(0, log.TruncatedTokens);
    }

    [Fact]
    public void Auto_keeps_the_system_prompt_and_the_newest_whole_turns_down_to_half_the_window()
    {
        var log = Filled(system: "Be brief.", turns: 12);
        var stored = log.MessageTokens;
        var plan = TurnPlanner.Plan(log, new TurnRequest("next", Words(300, "more"), Auto), "c1", _prompts, Logs.Now);

        var window = Assert.IsType<TurnWindow>(plan.Window);
        Assert.Equal(MessageRole.User, log.Messages[window.Index].Role);
        Assert.Empty(window.Head);
        Assert.True(plan.Work.PromptTokenIds.Count + 64 <= _prompts.ContextLength / 2,
            $"{plan.Work.PromptTokenIds.Count} prompt tokens + 64 exceed half the window");
        // Exactly the system prompt, then the kept messages' stored ids, then the new message.
        var expected = new List<int>(log.SystemPrompt.TokenIds);
        foreach (var message in log.Messages.Skip(window.Index))
        {
            expected.AddRange(message.TokenIds);
        }

        Assert.Equal(expected, plan.Work.PromptTokenIds.Take(expected.Count));
        Assert.Equal(stored - (expected.Count - log.SystemPrompt.TokenIds.Count), window.DroppedTokens);
        Assert.Equal(window.DroppedTokens, plan.TruncatedTokens);

        // Committed, the stored history keeps everything and the next turn starts from the moved window.
        var before = log.Messages.Count;
        log.Apply(Logs.PlanTurn(log, _prompts, new TurnRequest("next", Words(300, "more"), Auto), "Sure."));
        Assert.Equal(before + 2, log.Messages.Count);
        Assert.Equal(window.Index, log.WindowIndex);
        Assert.Equal(window.DroppedTokens, log.TruncatedTokens);
        var next = TurnPlanner.Plan(log, new TurnRequest("after", "Short.", Auto), "c1", _prompts, Logs.Now);
        Assert.Null(next.Window);
        var history = new List<int>();
        log.CopyHistory(history);
        Assert.Equal(history, next.Work.PromptTokenIds.Take(history.Count));
    }

    [Fact]
    public void Auto_moves_the_window_once_per_half_window_not_on_every_turn()
    {
        var log = Logs.Empty();
        var moves = 0;
        var words = 0;
        for (var turn = 0; turn < 60; turn++)
        {
            var request = new TurnRequest($"r{turn}", Words(60, "talk"), Auto);
            var change = Logs.PlanTurn(log, _prompts, request, Words(60, "reply"));
            moves += change.Header.WindowStart != log.Header.WindowStart ? 1 : 0;
            log.Apply(change);
            words += 120;
        }

        // About 125 tokens a turn, 60 turns: ~7,500 tokens through a 2,048 window, so at least 6 moves and never one
        // a turn: each drops to half the window, leaving ~8 turns of room before the next.
        Assert.InRange(moves, 3, 60 / 5);
        Assert.True(log.HistoryTokens < _prompts.ContextLength, $"the view holds {log.HistoryTokens} tokens");
        Assert.Equal(120, log.Messages.Count);
    }

    [Fact]
    public void Without_a_system_prompt_the_moved_window_opens_with_the_templates_head()
    {
        var template = ChatTemplates.Get("llama3");
        var prompts = TinyChat.Prompts(template);
        var log = Logs.Empty();
        for (var turn = 0; turn < 40; turn++)
        {
            log.Apply(Logs.PlanTurn(log, prompts, new TurnRequest($"r{turn}", Words(40, "talk"), Auto), Words(40, "reply")));
        }

        Assert.True(log.WindowIndex > 0);
        var view = log.Messages.Skip(log.WindowIndex)
            .Select(m => new ChatMessage(m.Role == MessageRole.User ? ChatRole.User : ChatRole.Assistant, m.Content)).ToList();
        var history = new List<int>();
        log.CopyHistory(history);
        // The view reads as the kept messages rendered as a conversation of their own: begin-of-text first. (Text, not
        // ids: this tokenizer does not know llama3's markers, so segment boundaries tokenize differently.)
        Assert.Equal(template.Render(view, addGenerationPrompt: false), TinyChat.Tokenizer.Decode(history));
    }

    [Fact]
    public void Auto_still_refuses_what_cannot_fit_even_with_the_whole_history_dropped()
    {
        var log = Filled(system: "Be brief.", turns: 4);
        var request = new TurnRequest("huge", "Hi", Auto with { MaxNewTokens = _prompts.ContextLength });
        Assert.Throws<ContextLengthExceededException>(() => TurnPlanner.Plan(log, request, "c1", _prompts, Logs.Now));
    }

    [Fact]
    public void A_reset_brings_the_window_back_to_the_first_message()
    {
        var log = Filled(system: null, turns: 12);
        log.Apply(Logs.PlanTurn(log, _prompts, new TurnRequest("next", Words(300, "more"), Auto), "Sure."));
        Assert.True(log.WindowIndex > 0);

        log.Apply(log.PlanReset("reset", 1, Logs.Now));
        Assert.Equal(0, log.WindowIndex);
        Assert.Equal(0, log.TruncatedTokens);
        log.Turn(_prompts, "fresh", "Hello again.");
        var history = new List<int>();
        log.CopyHistory(history);
        Assert.Equal(log.HistoryTokens, history.Count);
        Assert.Equal(log.MessageTokens, log.HistoryTokens);
    }

    /// <summary>A conversation of about 1,900 tokens: 12 turns of 75-word messages and short replies.</summary>
    private ConversationLog Filled(string? system, int turns)
    {
        var log = Logs.Empty();
        if (system is not null)
        {
            var ids = _prompts.Encode(_prompts.Segment(null, new ChatMessage(ChatRole.System, system)));
            log.Apply(log.PlanCreate("create", 1, new SystemPromptRecord { Text = system, TokenIds = ids }, Logs.Now));
        }

        for (var turn = 0; turn < turns; turn++)
        {
            log.Turn(_prompts, $"t{turn}", Words(150, "history"), Words(2, "ok"));
        }

        return log;
    }
}
