using System.Text.Json;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Chat;

/// <summary>
/// Expected strings were rendered by the models' own Jinja templates (jinja2 with Hugging Face's
/// trim_blocks/lstrip_blocks) and by tools/model/chat_template.py; " Hi \n" checks who trims and who does not.
/// </summary>
public sealed class ChatTemplateTests
{
    private static readonly ChatMessage[] WithSystem =
    [
        new(ChatRole.System, "You are terse."),
        new(ChatRole.User, " Hi \n"),
        new(ChatRole.Assistant, "Hello!"),
        new(ChatRole.User, "What is 2+2?"),
    ];

    private static readonly ChatMessage[] WithoutSystem = WithSystem[1..];

    [Fact]
    public void TinyChat_matches_the_python_template()
    {
        var t = ChatTemplates.Get("tiny-chat");
        Assert.Equal(
            "<|system|>\nYou are terse.\n<|user|>\n Hi \n\n<|assistant|>\nHello!<|endoftext|><|user|>\nWhat is 2+2?\n<|assistant|>\n",
            t.Render(WithSystem, addGenerationPrompt: true));
        Assert.Equal(
            "<|user|>\n Hi \n\n<|assistant|>\nHello!<|endoftext|><|user|>\nWhat is 2+2?\n<|assistant|>\n",
            t.Render(WithoutSystem, addGenerationPrompt: true));
        Assert.Equal(
            "<|user|>\n Hi \n\n<|assistant|>\nHello!<|endoftext|><|user|>\nWhat is 2+2?\n",
            t.Render(WithoutSystem, addGenerationPrompt: false));
        Assert.Contains("<|endoftext|>", t.StopStrings);
    }

    [Fact]
    public void TinyChat_reproduces_the_exported_reference_prompts()
    {
        using var stream = File.OpenRead(Path.Combine(RepositoryPaths.DefaultModel, "reference.json"));
        using var json = JsonDocument.Parse(stream);
        var references = json.RootElement.GetProperty("references").EnumerateArray().ToList();
        Assert.NotEmpty(references);
        foreach (var reference in references)
        {
            var messages = reference.GetProperty("messages").EnumerateArray()
                .Select(m => new ChatMessage(ParseRole(m.GetProperty("role").GetString()!), m.GetProperty("content").GetString()!))
                .ToList();
            Assert.Equal(reference.GetProperty("prompt").GetString(), TinyChatTemplate.Instance.Render(messages, addGenerationPrompt: true));
        }
    }

    [Fact]
    public void ChatMl_matches_qwen2()
    {
        var t = ChatTemplates.Get("chatml");
        Assert.Equal(
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\n Hi \n<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            t.Render(WithSystem, addGenerationPrompt: true));
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n Hi \n<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
            t.Render(WithoutSystem, addGenerationPrompt: true));
        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n Hi \n<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
            t.Render(WithoutSystem, addGenerationPrompt: false));
        Assert.Contains("<|im_end|>", t.StopStrings);
    }

    [Fact]
    public void Llama3_matches_meta_llama_3_instruct()
    {
        var t = ChatTemplates.Get("llama3");
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            t.Render(WithSystem, addGenerationPrompt: true));
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            t.Render(WithoutSystem, addGenerationPrompt: true));
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
            t.Render(WithoutSystem, addGenerationPrompt: false));
        Assert.Contains("<|eot_id|>", t.StopStrings);
    }

    [Fact]
    public void Llama3_trims_as_python_strip_does()
    {
        var rendered = Llama3Template.Instance.Render([new(ChatRole.User, "\u001f\t a b \u00a0\r\n")], addGenerationPrompt: false);
        Assert.Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\na b<|eot_id|>", rendered);
    }

    [Fact]
    public void Glm4_matches_glm_4_9b_chat()
    {
        var t = ChatTemplates.Get("glm4");
        Assert.Equal(
            "[gMASK]<sop><|system|>\nYou are terse.<|user|>\n Hi \n<|assistant|>\nHello!<|user|>\nWhat is 2+2?<|assistant|>",
            t.Render(WithSystem, addGenerationPrompt: true));
        Assert.Equal(
            "[gMASK]<sop><|user|>\n Hi \n<|assistant|>\nHello!<|user|>\nWhat is 2+2?<|assistant|>",
            t.Render(WithoutSystem, addGenerationPrompt: true));
        Assert.Equal(
            "[gMASK]<sop><|user|>\n Hi \n<|assistant|>\nHello!<|user|>\nWhat is 2+2?",
            t.Render(WithoutSystem, addGenerationPrompt: false));
        Assert.Contains("<|user|>", t.StopStrings);
    }

    [Fact]
    public void Glm4_skips_empty_turns_as_its_template_does()
    {
        var rendered = Glm4Template.Instance.Render([new(ChatRole.System, ""), new(ChatRole.User, "Hi")], addGenerationPrompt: true);
        Assert.Equal("[gMASK]<sop><|user|>\nHi<|assistant|>", rendered);
    }

    [Theory]
    [InlineData("tiny-chat")]
    [InlineData("chatml")]
    [InlineData("llama3")]
    [InlineData("glm4")]
    public void Templates_reject_bad_conversations(string name)
    {
        var t = ChatTemplates.Get(name);
        Assert.Equal(name, t.Name);
        Assert.NotEmpty(t.StopStrings);
        Assert.Throws<ArgumentException>(() => t.Render([], addGenerationPrompt: true));
        var ex = Assert.Throws<ArgumentException>(() => t.Render([new((ChatRole)42, "x")], addGenerationPrompt: true));
        Assert.Contains("unknown role", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_template_names_are_rejected_with_the_known_ones()
    {
        var ex = Assert.Throws<ArgumentException>(() => ChatTemplates.Get("vicuna"));
        Assert.Contains("vicuna", ex.Message, StringComparison.Ordinal);
        Assert.Contains("tiny-chat", ex.Message, StringComparison.Ordinal);
    }

    private static ChatRole ParseRole(string role) => role switch
    {
        "system" => ChatRole.System,
        "user" => ChatRole.User,
        "assistant" => ChatRole.Assistant,
        _ => throw new InvalidDataException($"role {role}"),
    };
}
