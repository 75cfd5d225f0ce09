using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AutoGlm.Orleans.Http.Tests.Support;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>A client's mistakes: each answered with its status and OpenAI's error body, never a 500 or a stack trace.</summary>
public sealed class BadRequestTests(SiloServer server)
{
    private const string User = """[{"role":"user","content":"hi"}]""";

    public static TheoryData<string, int, string> Cases => new()
    {
        { "malformed-json", 400, "invalid_json" },
        { "wrong-type-messages", 400, "invalid_json" },
        { "wrong-type-max-tokens", 400, "invalid_json" },
        { "empty-messages", 400, "invalid_value" },
        { "missing-messages", 400, "invalid_value" },
        { "unknown-role", 400, "invalid_value" },
        { "last-not-user", 400, "invalid_value" },
        { "huge-body", 413, "request_too_large" },
        { "n-2", 400, "invalid_value" },
        { "negative-max-tokens", 400, "invalid_value" },
        { "temperature-out-of-range", 400, "invalid_value" },
        { "beyond-context-window", 400, "context_length_exceeded" },
        { "unknown-model", 404, "model_not_found" },
        { "missing-model", 400, "missing_required_parameter" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Chat_completions_rejects(string name, int status, string code)
    {
        var model = server.Model;
        var body = name switch
        {
            "malformed-json" => """{"model": "m", "messages": [""",
            "wrong-type-messages" => $$"""{"model":"{{model}}","messages":"hello"}""",
            "wrong-type-max-tokens" => $$"""{"model":"{{model}}","messages":{{User}},"max_tokens":"ten"}""",
            "empty-messages" => $$"""{"model":"{{model}}","messages":[]}""",
            "missing-messages" => $$"""{"model":"{{model}}"}""",
            "unknown-role" => $$"""{"model":"{{model}}","messages":[{"role":"wizard","content":"hi"}]}""",
            "last-not-user" => $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}""",
            "huge-body" => $$"""{"model":"{{model}}","messages":[{"role":"user","content":"{{new string('a', 3 * 1024 * 1024)}}"}]}""",
            "n-2" => $$"""{"model":"{{model}}","messages":{{User}},"n":2}""",
            "negative-max-tokens" => $$"""{"model":"{{model}}","messages":{{User}},"max_tokens":-5}""",
            "temperature-out-of-range" => $$"""{"model":"{{model}}","messages":{{User}},"temperature":7}""",
            "beyond-context-window" => $$"""{"model":"{{model}}","messages":[{"role":"user","content":"{{string.Concat(Enumerable.Repeat("word ", 3000))}}"}]}""",
            "unknown-model" => $$"""{"model":"gpt-nonexistent","messages":{{User}}}""",
            "missing-model" => $$"""{"messages":{{User}}}""",
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = name == "huge-body"
            ? await SendBeforeTheBodyAsync(request)
            : await server.Http.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal((HttpStatusCode)status, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("type").GetString()));
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
    }

    /// <summary>
    /// Sends <paramref name="request"/> with <c>Expect: 100-continue</c>, its body held back until the server asks for it.
    /// Kestrel refuses a too-large Content-Length before it would ask, answers 413 and closes the connection with the
    /// body unread (dotnet/aspnetcore#23840): a client that streams the body regardless races that close, and when the
    /// reset wins it sees "Broken pipe" instead of the 413 (a third of the runs on a loaded machine). The wait for
    /// "100 Continue" is long, so a slow server cannot let the body go out and start the race either.
    /// </summary>
    private async Task<HttpResponseMessage> SendBeforeTheBodyAsync(HttpRequestMessage request)
    {
        using var client = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(60) })
        {
            BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60),
        };
        request.Headers.ExpectContinue = true;
        return await client.SendAsync(request, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Unknown_conversation_is_404()
    {
        using var response = await server.Http.GetAsync("/conversations/never-created-" + Guid.NewGuid().ToString("N"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);
        Assert.Equal("conversation_not_found", body.GetProperty("error").GetProperty("code").GetString());
    }
}
