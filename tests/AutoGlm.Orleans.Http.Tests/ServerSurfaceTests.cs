using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;
using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>Native REST, health, Prometheus metrics and the Orleans dashboard.</summary>
public sealed class ServerSurfaceTests(SiloServer server)
{
    [Fact]
    public async Task Native_rest_creates_sends_reads_and_deletes_a_conversation()
    {
        var ct = TestContext.Current.CancellationToken;
        using var created = await server.Http.PostAsJsonAsync("/conversations", new { system_prompt = "Be brief." }, ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetString()!;

        using var sent = await server.Http.PostAsJsonAsync($"/conversations/{id}/messages", new { content = "Hello", max_tokens = 4 }, ct);
        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        var reply = await sent.Content.ReadFromJsonAsync<JsonElement>(ct);
        Assert.True(reply.GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);

        using var streamed = await server.Http.PostAsJsonAsync($"/conversations/{id}/messages", new { content = "Again", max_tokens = 4, stream = true }, ct);
        Assert.Equal("text/event-stream", streamed.Content.Headers.ContentType?.MediaType);
        var events = await streamed.Content.ReadAsStringAsync(ct);
        Assert.Contains("\"cached_tokens\":", events, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", events, StringComparison.Ordinal);

        var view = await server.Http.GetFromJsonAsync<JsonElement>($"/conversations/{id}", ct);
        Assert.Equal(4, view.GetProperty("messages").GetArrayLength());
        Assert.Equal("Be brief.", view.GetProperty("system_prompt").GetString());

        using var deleted = await server.Http.DeleteAsync($"/conversations/{id}", ct);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        using var gone = await server.Http.GetAsync($"/conversations/{id}", ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task Healthz_is_ready()
    {
        var health = await server.Http.GetFromJsonAsync<JsonElement>("/healthz", TestContext.Current.CancellationToken);
        Assert.Equal("ready", health.GetProperty("status").GetString());
        Assert.Equal("Active", health.GetProperty("silo").GetString());
    }

    [Fact]
    public async Task Metrics_export_ttft_and_prefix_cache_counters_after_traffic()
    {
        var ct = TestContext.Current.CancellationToken;
        var chat = server.Chat();
        var first = await chat.CompleteChatAsync([new UserChatMessage("metrics please")], new ChatCompletionOptions { MaxOutputTokenCount = 3 }, ct);
        await chat.CompleteChatAsync([new UserChatMessage("metrics please"), new AssistantChatMessage(first.Value), new UserChatMessage("again")],
            new ChatCompletionOptions { MaxOutputTokenCount = 3 }, ct);

        var metrics = await server.Http.GetStringAsync("/metrics", ct);
        Assert.Contains("autoglm_time_to_first_token_seconds_bucket", metrics, StringComparison.Ordinal);
        Assert.Contains("autoglm_prefix_cache_queries_total", metrics, StringComparison.Ordinal);
        Assert.Contains("autoglm_prefix_cache_hits_total", metrics, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration_seconds", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public void Engine_options_come_from_the_Engine_configuration_section()
    {
        var engine = server.Services.GetRequiredService<InferenceEngine>();
        Assert.Equal(1, engine.Options.IntraOpThreads);
        Assert.Equal(TimeSpan.FromSeconds(45), engine.Options.MaxQueueWait);
    }

    [Fact]
    public async Task Dashboard_answers()
    {
        using var response = await server.Http.GetAsync("/dashboard/", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("html", response.Content.Headers.ContentType?.MediaType ?? string.Empty, StringComparison.Ordinal);
    }
}
