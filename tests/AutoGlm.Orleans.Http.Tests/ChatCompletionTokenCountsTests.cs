using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// What the multiturn benchmark's cluster_http client relies on: our stream_options.include_token_counts extension
/// (each chunk says how many tokens the reply has so far), ignore_eos forcing the length, and a stateless client
/// that sends back the streamed text landing on the conversation that holds its tokens.
/// </summary>
public sealed class ChatCompletionTokenCountsTests(SiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Token_counts_rise_with_every_chunk_to_the_forced_length_and_only_when_asked()
    {
        var counted = await StreamAsync([User("Tell me about Stream.Flush")], tokens: 12, counts: true);
        var counts = counted.Events.Where(e => e.TryGetProperty("choices", out var c) && c.GetArrayLength() > 0)
            .Select(e => e.GetProperty("completion_tokens").GetInt32()).ToList();
        Assert.Equal(0, counts[0]);
        Assert.Equal(counts.Order(), counts);
        Assert.Equal(12, counts[^1]);
        Assert.Equal(12, counted.Usage.GetProperty("completion_tokens").GetInt32());

        var plain = await StreamAsync([User("Tell me about Stream.Flush")], tokens: 12, counts: false);
        Assert.DoesNotContain(plain.Events, e => e.TryGetProperty("completion_tokens", out _));
        Assert.Equal(12, plain.Usage.GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task A_stateless_client_sending_back_the_streamed_text_continues_the_conversation_with_its_tokens_cached()
    {
        var first = await StreamAsync([User("What does String.Trim do?")], tokens: 20, counts: true);
        var history = new JsonArray(User("What does String.Trim do?"), Message("assistant", first.Text), User("And String.Split?"));
        var second = await StreamAsync(history, tokens: 8, counts: true);

        Assert.Equal(first.Conversation, second.Conversation);
        var prompt = first.Usage.GetProperty("prompt_tokens").GetInt32();
        var cached = second.Usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        // The whole first turn is reused: its prompt and its reply (the reply's last token has no KV until it is fed back).
        Assert.InRange(cached, prompt + 20 - 1, prompt + 20);
        Assert.True(second.Usage.GetProperty("prompt_tokens").GetInt32() > prompt + 20);
    }

    private async Task<Reply> StreamAsync(JsonArray messages, int tokens, bool counts)
    {
        var options = new JsonObject { ["include_usage"] = true };
        if (counts)
        {
            options["include_token_counts"] = true;
        }

        var body = new JsonObject
        {
            ["model"] = server.Model, ["messages"] = messages, ["stream"] = true, ["stream_options"] = options,
            ["max_tokens"] = tokens, ["ignore_eos"] = true, ["temperature"] = 0,
        };
        using var response = await server.Http.PostAsync("/v1/chat/completions",
            new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), Ct);
        response.EnsureSuccessStatusCode();
        var events = (await response.Content.ReadAsStringAsync(Ct)).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(e => e != "data: [DONE]").Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        var text = string.Concat(events.Where(e => e.TryGetProperty("choices", out var c) && c.GetArrayLength() > 0)
            .Select(e => e.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        var usage = events.Single(e => e.TryGetProperty("usage", out _)).GetProperty("usage");
        return new Reply(events, text, usage, response.Headers.GetValues("X-Conversation-Id").Single());
    }

    private static JsonObject User(string content) => Message("user", content);

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    private sealed record Reply(IReadOnlyList<JsonElement> Events, string Text, JsonElement Usage, string Conversation);
}
