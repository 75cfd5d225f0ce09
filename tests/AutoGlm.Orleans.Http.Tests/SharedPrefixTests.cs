using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// A tenant's conversations that start with the same system prompt share its computed KV: the second one's first
/// turn copies it and computes only the rest. Another tenant, or the same tenant under another cache salt, shares nothing.
/// </summary>
[Collection(KeyedSiloCollection.Name)]
public sealed class SharedPrefixTests(KeyedSiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_second_conversation_with_a_system_prompt_computes_only_its_own_tokens_and_other_scopes_nothing()
    {
        var system = $"You are the harbour master of town {Guid.NewGuid():N}. " + string.Join(' ', Enumerable.Repeat("Answer briefly, kindly and truthfully.", 60));
        using var acme = server.As(KeyedSiloServer.Acme);
        var (firstCached, firstPrompt) = await FirstTurnAsync(acme, system);
        var (secondCached, secondPrompt) = await FirstTurnAsync(acme, system);
        Assert.True(firstCached < 0.1 * firstPrompt, $"the first conversation found {firstCached} of {firstPrompt} tokens cached");
        Assert.True(secondPrompt > 400, $"{secondPrompt} prompt tokens");
        Assert.True(secondCached >= 0.9 * (secondPrompt - 20), $"the second conversation found {secondCached} of {secondPrompt} tokens cached");

        foreach (var key in new[] { KeyedSiloServer.Globex, KeyedSiloServer.AcmeSalted })
        {
            using var other = server.As(key);
            var (cached, prompt) = await FirstTurnAsync(other, system);
            Assert.True(cached < 0.1 * prompt, $"another scope found {cached} of {prompt} tokens cached");
        }
    }

    private static async Task<(int Cached, int Prompt)> FirstTurnAsync(HttpClient http, string system)
    {
        var id = "prefix-" + Guid.NewGuid().ToString("N");
        using (var created = await http.PostAsJsonAsync("/conversations", new { id, system_prompt = system }, Ct))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using var reply = await http.PostAsJsonAsync($"/conversations/{id}/messages", new { content = "Hello.", max_tokens = 4, temperature = 0 }, Ct);
        var body = JsonDocument.Parse(await reply.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.True(reply.IsSuccessStatusCode, body.ToString());
        var usage = body.GetProperty("usage");
        return (usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(), usage.GetProperty("prompt_tokens").GetInt32());
    }
}
