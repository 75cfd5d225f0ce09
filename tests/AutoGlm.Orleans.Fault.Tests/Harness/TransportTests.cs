using System.Net.Sockets;
using System.Text.Json;
using AutoGlm.Orleans.Fault.Tests.Load;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests.Harness;

/// <summary>
/// The harness's own clients against a scripted server: each way a reply can end is classified as the fault test
/// relies on (acknowledged, retried, broken, error event), and the headers and single attempts it claims are real.
/// </summary>
public sealed class TransportTests : IDisposable
{
    private const string Key = "conv-1-t01";
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly RunClock _clock = new();
    private readonly LoadMonitor _monitor = new(1, 1);
    private readonly LoadSettings _settings = new();

    [Fact]
    public async Task A_rest_stream_that_reaches_DONE_is_acknowledged_with_its_text_and_carries_the_key()
    {
        await using var server = new FakeHttpServer((_, s) => Write(s, Sse(true, "data: {\"text\":\"Hel\"}", "data: {\"text\":\"lo\"}",
            "data: {\"finish_reason\":\"stop\",\"silo\":\"S127.0.0.1:1:1\"}", "data: [DONE]")));
        var (result, attempt) = await RestAsync(server, TurnKind.RestStream);

        Assert.Equal(AttemptVerdict.Acknowledged, result.Verdict);
        Assert.Equal("Hello", result.Text);
        Assert.Equal(StreamEnd.Done, attempt.Stream);
        Assert.Equal("S127.0.0.1:1:1", attempt.Silo);
        var request = Assert.Single(server.Requests);
        Assert.Equal(Key, request.Headers[RestTransport.IdempotencyHeader]);
        Assert.True(JsonDocument.Parse(request.Body).RootElement.GetProperty("stream").GetBoolean());
    }

    [Fact]
    public async Task A_rest_stream_with_an_error_event_is_retried()
    {
        await using var server = new FakeHttpServer((_, s) => Write(s, Sse(true, "data: {\"text\":\"Hel\"}",
            "data: {\"error\":{\"message\":\"m\",\"type\":\"server_error\",\"param\":null,\"code\":\"unavailable\"}}")));
        var (result, attempt) = await RestAsync(server, TurnKind.RestStream);

        Assert.Equal(AttemptVerdict.Retry, result.Verdict);
        Assert.Equal(StreamEnd.ErrorEvent, attempt.Stream);
        Assert.Contains("unavailable", attempt.Outcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rest_stream_that_ends_cleanly_without_DONE_is_retried_and_flagged()
    {
        await using var server = new FakeHttpServer((_, s) => Write(s, Sse(true, "data: {\"text\":\"Hel\"}")));
        var (result, attempt) = await RestAsync(server, TurnKind.RestStream);

        Assert.Equal(AttemptVerdict.Retry, result.Verdict);
        Assert.Equal(StreamEnd.EndedWithoutDone, attempt.Stream);
    }

    [Fact]
    public async Task A_rest_stream_cut_mid_body_is_broken()
    {
        await using var server = new FakeHttpServer((_, s) => Write(s, Sse(false, "data: {\"text\":\"Hel\"}")));
        var (result, attempt) = await RestAsync(server, TurnKind.RestStream);

        Assert.Equal(AttemptVerdict.Retry, result.Verdict);
        Assert.Equal(StreamEnd.Broken, attempt.Stream);
        Assert.Equal(200, attempt.Status);
    }

    [Fact]
    public async Task A_503_is_retried_after_the_servers_Retry_After_and_a_404_is_refused()
    {
        await using var unavailable = new FakeHttpServer((_, s) => Write(s, FakeHttpServer.Complete(503, "application/json",
            "{\"error\":{\"message\":\"m\",\"type\":\"overloaded_error\",\"param\":null,\"code\":\"unavailable\"}}", "Retry-After: 2")));
        var (retried, attempt) = await RestAsync(unavailable, TurnKind.RestJson);
        await using var missing = new FakeHttpServer((_, s) => Write(s, FakeHttpServer.Complete(404, "application/json",
            "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"conversation_not_found\"}}")));
        var (refused, _) = await RestAsync(missing, TurnKind.RestJson);

        Assert.Equal(AttemptVerdict.Retry, retried.Verdict);
        Assert.Equal("503 unavailable", attempt.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(2), attempt.RetryAfter);
        Assert.Equal(TimeSpan.FromSeconds(2), _settings.Backoff(0, attempt.RetryAfter));
        Assert.Equal(AttemptVerdict.Refused, refused.Verdict);
    }

    [Fact]
    public async Task The_sdk_sends_only_the_new_message_with_the_conversation_and_key_headers_and_reads_the_stream()
    {
        await using var server = new FakeHttpServer((_, s) => Write(s, Sse(true, OpenAiChunk("Hel", null), OpenAiChunk("lo", null),
            OpenAiChunk(null, "stop"), "data: [DONE]")));
        var (result, attempt) = await SdkAsync(server, TurnKind.SdkStream);

        Assert.Equal(AttemptVerdict.Acknowledged, result.Verdict);
        Assert.Equal("Hello", result.Text);
        Assert.Equal(StreamEnd.Done, attempt.Stream);
        var request = Assert.Single(server.Requests);
        Assert.StartsWith("POST /v1/chat/completions ", request.RequestLine, StringComparison.Ordinal);
        Assert.Equal("conv-1", request.Headers[SdkTransport.ConversationHeader]);
        Assert.Equal(Key, request.Headers[RestTransport.IdempotencyHeader]);
        var body = JsonDocument.Parse(request.Body).RootElement;
        Assert.Equal("Turn 1", Assert.Single(body.GetProperty("messages").EnumerateArray()).GetProperty("content").GetString());
        Assert.Equal(0, body.GetProperty("temperature").GetDouble());
    }

    [Fact]
    public async Task An_sdk_stream_with_an_error_event_is_retried()
    {
        await using var server = new FakeHttpServer((_, s) => Write(s, Sse(true, OpenAiChunk("Hel", null),
            "data: {\"error\":{\"message\":\"m\",\"type\":\"server_error\",\"param\":null,\"code\":\"unavailable\"}}")));
        var (result, attempt) = await SdkAsync(server, TurnKind.SdkStream);

        Assert.Equal(AttemptVerdict.Retry, result.Verdict);
        Assert.Equal(StreamEnd.ErrorEvent, attempt.Stream);
    }

    [Fact]
    public async Task The_sdk_makes_one_attempt_per_call_its_own_retries_are_off()
    {
        await using var server = new FakeHttpServer((_, s) => Write(s, FakeHttpServer.Complete(503, "application/json",
            "{\"error\":{\"message\":\"m\",\"type\":\"overloaded_error\",\"param\":null,\"code\":\"unavailable\"}}", "Retry-After: 1")));
        var (result, attempt) = await SdkAsync(server, TurnKind.SdkJson);

        Assert.Equal(AttemptVerdict.Retry, result.Verdict);
        Assert.Equal("503 unavailable", attempt.Outcome);
        Assert.Equal(TimeSpan.FromSeconds(1), attempt.RetryAfter);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task A_refused_connection_is_marked_so_the_failover_skips_the_endpoint()
    {
        var nobody = new Uri($"http://127.0.0.1:{FreePorts.Take()}");
        var rest = new RestTransport(_http, [nobody], _clock, _monitor, _settings);
        var attempt = NewAttempt();
        var result = await rest.SendAsync(NewTurn(TurnKind.RestJson), attempt, TestContext.Current.CancellationToken);
        var health = new EndpointHealth(_clock, 2);
        health.ConnectFailed(0);

        Assert.Equal(AttemptVerdict.Retry, result.Verdict);
        Assert.True(attempt.ConnectionRefused);
        Assert.Equal("connection refused", attempt.Outcome);
        Assert.Equal(1, health.Pick(0));
    }

    public void Dispose() => _http.Dispose();

    private static byte[] Sse(bool complete, params string[] events) =>
    [
        .. FakeHttpServer.Head(200, "text/event-stream", chunked: true),
        .. events.SelectMany(e => FakeHttpServer.Chunk(e + "\n\n")),
        .. complete ? FakeHttpServer.LastChunk : [],
    ];

    private static string OpenAiChunk(string? content, string? finish)
    {
        var delta = content is null ? "{}" : $"{{\"role\":\"assistant\",\"content\":\"{content}\"}}";
        var reason = finish is null ? "null" : $"\"{finish}\"";
        return $"data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"tiny-chat\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{reason}}}]}}";
    }

    private static async Task Write(NetworkStream stream, byte[] bytes) => await stream.WriteAsync(bytes);

    private async Task<(AttemptResult Result, AttemptRecord Attempt)> RestAsync(FakeHttpServer server, TurnKind kind)
    {
        var rest = new RestTransport(_http, [server.BaseAddress], _clock, _monitor, _settings);
        var attempt = NewAttempt();
        return (await rest.SendAsync(NewTurn(kind), attempt, TestContext.Current.CancellationToken), attempt);
    }

    private async Task<(AttemptResult Result, AttemptRecord Attempt)> SdkAsync(FakeHttpServer server, TurnKind kind)
    {
        var sdk = new SdkTransport(_http, [server.BaseAddress], _clock, _monitor, _settings);
        var attempt = NewAttempt();
        return (await sdk.SendAsync(NewTurn(kind), attempt, TestContext.Current.CancellationToken), attempt);
    }

    private AttemptRecord NewAttempt() => new() { Retry = 0, Endpoint = 0, Started = _clock.Now };

    private TurnRecord NewTurn(TurnKind kind) => new()
    {
        Lane = 0,
        ConversationId = "conv-1",
        Number = 1,
        Key = Key,
        Kind = kind,
        Content = "Turn 1",
        Started = _clock.Now,
        FirstEndpoint = 0,
    };
}
