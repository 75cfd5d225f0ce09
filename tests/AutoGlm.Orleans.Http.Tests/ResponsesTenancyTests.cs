using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>Responses and OpenAI conversations belong to their tenant: another tenant's ids answer 404, as unknown ones do.</summary>
[Collection(KeyedSiloCollection.Name)]
public sealed class ResponsesTenancyTests(KeyedSiloServer server)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Another_tenants_response_and_conversation_are_404_and_stay_untouched()
    {
        using var acme = server.As(KeyedSiloServer.Acme);
        using var globex = server.As(KeyedSiloServer.Globex);
        var model = (await acme.GetFromJsonAsync<JsonElement>("/v1/models", Ct)).GetProperty("data")[0].GetProperty("id").GetString();
        var response = await JsonAsync(await acme.PostAsJsonAsync("/v1/responses", new { model, input = "A secret.", max_output_tokens = 4 }, Ct));
        var id = response.GetProperty("id").GetString()!;
        var conversation = await JsonAsync(await acme.PostAsJsonAsync("/v1/conversations", new { metadata = new { owner = "acme" } }, Ct));
        var conversationId = conversation.GetProperty("id").GetString()!;
        var unknown = id[..^4] + "AAAA";

        foreach (var call in new Func<HttpClient, Task<HttpResponseMessage>>[]
                 {
                     c => c.GetAsync($"/v1/responses/{id}", Ct),
                     c => c.GetAsync($"/v1/responses/{id}/input_items", Ct),
                     c => c.DeleteAsync($"/v1/responses/{id}", Ct),
                     c => c.PostAsJsonAsync("/v1/responses", new { model, input = "Mine now.", previous_response_id = id }, Ct),
                 })
        {
            using var theirs = await call(globex);
            Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
            Assert.Equal("response_not_found", await CodeAsync(theirs));
        }

        using (var unknownAnswer = await globex.GetAsync($"/v1/responses/{unknown}", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknownAnswer.StatusCode);
        }

        foreach (var call in new Func<HttpClient, Task<HttpResponseMessage>>[]
                 {
                     c => c.GetAsync($"/v1/conversations/{conversationId}", Ct),
                     c => c.GetAsync($"/v1/conversations/{conversationId}/items", Ct),
                     c => c.PostAsJsonAsync($"/v1/conversations/{conversationId}/items", new { items = new[] { new { role = "user", content = "x" } } }, Ct),
                     c => c.PostAsJsonAsync("/v1/responses", new { model, input = "Mine now.", conversation = conversationId }, Ct),
                 })
        {
            using var theirs = await call(globex);
            Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
            Assert.Equal("conversation_not_found", await CodeAsync(theirs));
        }

        // The owner's response and conversation are as they were.
        var again = await JsonAsync(await acme.GetAsync($"/v1/responses/{id}", Ct));
        Assert.Equal(response.GetProperty("output_text").GetString(), again.GetProperty("output_text").GetString());
        var items = await JsonAsync(await acme.GetAsync($"/v1/conversations/{conversationId}/items", Ct));
        Assert.Equal(0, items.GetProperty("data").GetArrayLength());
        Assert.Equal("acme", (await JsonAsync(await acme.GetAsync($"/v1/conversations/{conversationId}", Ct))).GetProperty("metadata").GetProperty("owner").GetString());
    }

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.IsSuccessStatusCode, text);
            return JsonDocument.Parse(text).RootElement.Clone();
        }
    }

    private static async Task<string?> CodeAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("error").GetProperty("code").GetString();
}
