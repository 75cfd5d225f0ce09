using AutoGlm.Orleans.Grains.Tests.Support;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Tests;

public sealed class PromptBuilderTests
{
    public static TheoryData<string> Templates => new(ChatTemplates.Names);

    /// <summary>The windowed segment (the message after the one before it) equals the definition: render(all) minus render(all but it).</summary>
    [Theory]
    [MemberData(nameof(Templates))]
    public void A_segment_rendered_in_a_two_message_window_equals_the_whole_history_difference(string name)
    {
        var template = ChatTemplates.Get(name);
        var prompts = TinyChat.Prompts(template);
        var random = new Random(7);
        foreach (var withSystem in new[] { true, false })
        {
            var history = new List<ChatMessage>();
            if (withSystem)
            {
                history.Add(new ChatMessage(ChatRole.System, "  Be brief.\n"));
            }

            for (var i = 0; i < 12; i++)
            {
                var role = i % 2 == 0 ? ChatRole.User : ChatRole.Assistant;
                // Empty and space-padded contents: templates that trim or skip empty turns must still agree.
                var content = random.Next(5) == 0 ? "" : $" message {i} {new string('x', random.Next(0, 20))} \n";
                var message = new ChatMessage(role, content);
                var expected = history.Count == 0
                    ? template.Render([message], addGenerationPrompt: false)
                    : template.Render([.. history, message], addGenerationPrompt: false)[template.Render(history, addGenerationPrompt: false).Length..];
                Assert.Equal(expected, prompts.Segment(history.Count == 0 ? null : history[^1], message));
                history.Add(message);
            }

            var last = history[^1];
            var generation = template.Render(history, addGenerationPrompt: true)[template.Render(history, addGenerationPrompt: false).Length..];
            Assert.Equal(generation, prompts.GenerationPrompt(last));
        }
    }

    [Fact]
    public void Encoding_stops_at_the_limit_and_says_the_text_did_not_fit()
    {
        var prompts = TinyChat.Prompts();
        var text = string.Join(' ', Enumerable.Repeat("word", 500));
        Assert.True(prompts.TryEncode(text, 10_000, out var all));
        Assert.Equal(prompts.Encode(text), all);
        Assert.False(prompts.TryEncode(text, all.Length - 1, out _));
        Assert.True(prompts.TryEncode(text, all.Length, out var exact));
        Assert.Equal(all, exact);
        Assert.True(prompts.TryEncode("", 0, out var none));
        Assert.Empty(none);
    }

    [Theory]
    [InlineData("tiny-chat", "<|endoftext|>")]
    [InlineData("chatml", "<|im_end|>\n")]
    [InlineData("llama3", "<|eot_id|>")]
    // GLM-4 writes nothing after a reply: the next "<|user|>" header, the model's stop token, ends the turn.
    [InlineData("glm4", "")]
    public void The_assistant_close_is_what_the_template_renders_after_the_reply(string name, string expected)
    {
        var prompts = TinyChat.Prompts(ChatTemplates.Get(name));
        var user = new ChatMessage(ChatRole.User, "Hi");
        var close = prompts.AssistantClose(user, new ChatMessage(ChatRole.Assistant, "Hello!"), prompts.GenerationPrompt(user));
        Assert.Equal(prompts.Encode(expected), close);
    }
}
