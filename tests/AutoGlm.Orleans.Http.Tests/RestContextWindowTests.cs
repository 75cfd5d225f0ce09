using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>The native REST API's context-window setting and reset: the same policy as /v1/responses, per conversation.</summary>
public sealed class RestContextWindowTests(SiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_conversation_set_to_truncate_answers_past_the_window_until_set_back_and_a_reset_empties_it()
    {
        var id = "window-" + Guid.NewGuid().ToString("N");
        using (var created = await server.Http.PostAsJsonAsync("/conversations", new { id, truncation = "auto" }, Ct))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var words = string.Join(' ', Enumerable.Repeat("tide", 120));
        for (var turn = 0; turn < 18; turn++)
        {
            using var reply = await server.Http.PostAsJsonAsync($"/conversations/{id}/messages", new { content = $"{turn}: {words}", max_tokens = 16 }, Ct);
            Assert.True(reply.IsSuccessStatusCode, $"turn {turn}: {await reply.Content.ReadAsStringAsync(Ct)}");
        }

        var view = await GetAsync(id);
        Assert.Equal("auto", view.GetProperty("truncation").GetString());
        Assert.True(view.GetProperty("truncated_tokens").GetInt32() > 0);
        Assert.Equal(36, view.GetProperty("messages").GetArrayLength());

        using (var patched = await server.Http.PatchAsJsonAsync($"/conversations/{id}", new { truncation = "disabled" }, Ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, patched.StatusCode);
        }

        using (var refused = await server.Http.PostAsJsonAsync($"/conversations/{id}/messages", new { content = words, max_tokens = 1800 }, Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("error");
            Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        }

        using (var reset = await server.Http.PostAsync($"/conversations/{id}/reset", null, Ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, reset.StatusCode);
        }

        Assert.Equal(0, (await GetAsync(id)).GetProperty("messages").GetArrayLength());
        using var bad = await server.Http.PatchAsJsonAsync($"/conversations/{id}", new { truncation = "maybe" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    private async Task<JsonElement> GetAsync(string id)
    {
        using var response = await server.Http.GetAsync($"/conversations/{id}", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
    }
}
