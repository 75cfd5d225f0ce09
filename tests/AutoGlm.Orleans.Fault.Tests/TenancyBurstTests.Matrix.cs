using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Orleans.Fault.Tests.Support;
using AutoGlm.Orleans.Fault.Tests.Tenancy;

namespace AutoGlm.Orleans.Fault.Tests;

/// <summary>The route × caller matrix: each route of the HTTP API as no caller, the owner, another tenant and an admin.</summary>
public sealed partial class TenancyBurstTests
{
    private const string Health = "GET /healthz";
    private const string Models = "GET /v1/models";
    private const string Chat = "POST /v1/chat/completions (fresh)";
    private const string ChatNamed = "POST /v1/chat/completions + X-Conversation-Id: A's";
    private const string Create = "POST /conversations";
    private const string Send = "POST /conversations/{A's}/messages";
    private const string Read = "GET /conversations/{A's}";
    private const string Delete = "DELETE /conversations/{A's}";
    private const string Metrics = "GET /metrics";
    private const string Dashboard = "GET /dashboard/";

    private const string NoKey = "no key";
    private const string Owner = "A (owner)";
    private const string Other = "B (other tenant)";
    private const string Operator = "admin (ops)";

    private static readonly string[] MatrixRoutes = [Health, Models, Chat, ChatNamed, Create, Send, Read, Delete, Metrics, Dashboard];
    private static readonly string[] MatrixCallers = [NoKey, Owner, Other, Operator];

    [Fact]
    public async Task Every_route_answers_each_caller_as_its_tenant_and_role_allow()
    {
        var output = TestContext.Current.TestOutputHelper ?? throw new InvalidOperationException("no test output");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        var ct = deadline.Token;
        var a = TenantKey.Create("alpha");
        var b = TenantKey.Create("beta");
        var ops = TenantKey.Create("ops") with { Admin = true };
        using var cluster = await ClusterProcesses.StartAsync(1, run => TestKeysFile.Write(run, [a, b, ops]), "everysec", ct);
        var silo = cluster.Silos[0];
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var keys = new Dictionary<string, TenantKey?> { [NoKey] = null, [Owner] = a, [Other] = b, [Operator] = ops };
        var answers = new Dictionary<(string Route, string Caller), ApiAnswer>();
        var measured = new AccessMatrix(MatrixRoutes, MatrixCallers);
        var passed = false;
        try
        {
            // A's conversation, with one turn in it: the conversation routes' target.
            var id = "conv-a-" + Guid.NewGuid().ToString("N")[..12];
            Assert.Equal(201, (await CallAsync(HttpMethod.Post, "/conversations", a, new JsonObject { ["id"] = id })).Status);
            Assert.Equal(200, (await CallAsync(HttpMethod.Post, $"/conversations/{id}/messages", a, Message("Hello, I am A."))).Status);
            var history = await MessagesAsync(id, a);

            foreach (var route in (string[])[Health, Models, Chat, Create, Send, Metrics, Dashboard, Read])
            {
                foreach (var caller in MatrixCallers)
                {
                    await MeasureAsync(route, caller, id);
                }
            }

            history = await MessagesAsync(id, a);

            // Before another tenant or the admin names A's id with X-Conversation-Id (which makes a conversation of that
            // id their own), their DELETE of it must find nothing; the owner's DELETE comes last of all.
            foreach (var caller in (string[])[NoKey, Other, Operator])
            {
                await MeasureAsync(Delete, caller, id);
            }

            var leaks = await ExistenceLeaksAsync(id);
            foreach (var caller in (string[])[NoKey, Other, Operator])
            {
                await MeasureAsync(ChatNamed, caller, id);
            }

            var afterOthers = await MessagesAsync(id, a);
            await MeasureAsync(ChatNamed, Owner, id);
            var afterOwner = await MessagesAsync(id, a);
            var otherOwn = await CallAsync(HttpMethod.Get, $"/conversations/{id}", b, null);
            await MeasureAsync(Delete, Owner, id);
            var ownerAfterDelete = await CallAsync(HttpMethod.Get, $"/conversations/{id}", a, null);
            var otherAfterDelete = await CallAsync(HttpMethod.Get, $"/conversations/{id}", b, null);
            var adminAfterDelete = await CallAsync(HttpMethod.Get, $"/conversations/{id}", ops, null);

            var table = measured.ToMarkdown();
            FigureLog.Write($"tenancy route × caller matrix (HTTP status; one silo with keys for tenants alpha = A, beta = B and an admin, ops):\n{table}");

            var problems = new List<string>(measured.Differences(Expected()));
            problems.AddRange(leaks);
            foreach (var ((route, caller), answer) in answers)
            {
                var code = answer.Status switch { 401 => "invalid_api_key", 403 => "insufficient_permissions", 404 => "conversation_not_found", _ => null };
                if (code is not null && (OpenAiErrorShape.Problem(answer.Body) is not null || Load.ErrorBodies.Code(answer.Body) != code))
                {
                    problems.Add($"{route} × {caller}: {answer.Status} should carry code {code} in OpenAI's shape: {Shorten(answer.Body)}");
                }

                if (answer.Status == 401 && answer.WwwAuthenticate != "Bearer")
                {
                    problems.Add($"{route} × {caller}: 401 without WWW-Authenticate: Bearer ({answer.WwwAuthenticate})");
                }
            }

            if (answers.TryGetValue((ChatNamed, Other), out var named) && named.ConversationId != id)
            {
                problems.Add($"B's turn with X-Conversation-Id {id} answered as conversation {named.ConversationId}");
            }

            if (afterOthers != history)
            {
                problems.Add($"A's conversation changed when B and the admin named it: {Shorten(history)} → {Shorten(afterOthers)}");
            }

            if (Count(afterOwner) != Count(history) + 2)
            {
                problems.Add($"A's own turn with X-Conversation-Id did not add 2 messages to it: {Count(history)} → {Count(afterOwner)}");
            }

            if (otherOwn.Status != 200 || Count(otherOwn.Body) != 2 || otherOwn.Body.Contains("I am A", StringComparison.Ordinal))
            {
                problems.Add($"B's conversation of the same id should hold only B's turn: {otherOwn.Status} {Shorten(otherOwn.Body)}");
            }

            if (ownerAfterDelete.Status != 404 || otherAfterDelete.Status != 200 || adminAfterDelete.Status != 200 || Count(adminAfterDelete.Body) != 2)
            {
                problems.Add($"after A's DELETE: A reads {ownerAfterDelete.Status} (expected 404); the same-named conversations of B and the admin "
                    + $"{otherAfterDelete.Status} and {adminAfterDelete.Status} (expected 200 each, the admin's with its one turn)");
            }

            passed = problems.Count == 0;
            Assert.True(passed, $"{problems.Count} access claims failed:\n{string.Join("\n", problems)}\n{table}");
        }
        finally
        {
            if (!passed)
            {
                output.WriteLine(cluster.DescribeLogs(40));
            }
        }

        async Task MeasureAsync(string route, string caller, string id)
        {
            var key = keys[caller];
            var answer = route switch
            {
                Health => await CallAsync(HttpMethod.Get, "/healthz", key, null),
                Models => await CallAsync(HttpMethod.Get, "/v1/models", key, null),
                Chat => await CallAsync(HttpMethod.Post, "/v1/chat/completions", key, ChatBody($"Fresh turn of {caller}.")),
                ChatNamed => await CallAsync(HttpMethod.Post, "/v1/chat/completions", key, ChatBody($"Named turn of {caller}."), id),
                Create => await CallAsync(HttpMethod.Post, "/conversations", key, new JsonObject()),
                Send => await CallAsync(HttpMethod.Post, $"/conversations/{id}/messages", key, Message($"Message of {caller}.")),
                Read => await CallAsync(HttpMethod.Get, $"/conversations/{id}", key, null),
                Delete => await CallAsync(HttpMethod.Delete, $"/conversations/{id}", key, null),
                Metrics => await CallAsync(HttpMethod.Get, "/metrics", key, null),
                Dashboard => await CallAsync(HttpMethod.Get, "/dashboard/", key, null),
                _ => throw new ArgumentOutOfRangeException(nameof(route), route, "no such route"),
            };
            answers[(route, caller)] = answer;
            measured[route, caller] = answer.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        // A refusal must not tell another tenant's conversation from none at all: B and the admin get, for A's id, the
        // very answer they get for an id nobody ever used (same status, same body but for the id).
        async Task<List<string>> ExistenceLeaksAsync(string id)
        {
            var found = new List<string>();
            foreach (var route in (string[])[Send, Read, Delete])
            {
                foreach (var caller in (string[])[Other, Operator])
                {
                    var ghost = "conv-a-" + Guid.NewGuid().ToString("N")[..12];
                    var answer = route switch
                    {
                        Send => await CallAsync(HttpMethod.Post, $"/conversations/{ghost}/messages", keys[caller], Message($"Message of {caller}.")),
                        Read => await CallAsync(HttpMethod.Get, $"/conversations/{ghost}", keys[caller], null),
                        _ => await CallAsync(HttpMethod.Delete, $"/conversations/{ghost}", keys[caller], null),
                    };
                    var real = answers[(route, caller)];
                    if (answer.Status != real.Status || answer.Body.Replace(ghost, id, StringComparison.Ordinal) != real.Body)
                    {
                        found.Add($"{route} × {caller}: A's id answers {real.Status} {Shorten(real.Body)}, an unused id {answer.Status} {Shorten(answer.Body)}");
                    }
                }
            }

            return found;
        }

        Task<ApiAnswer> CallAsync(HttpMethod method, string path, TenantKey? key, JsonNode? body, string? conversationId = null) =>
            ApiCalls.SendAsync(http, method, new Uri(silo.HttpBase, path), key, body, conversationId, ct);

        async Task<string> MessagesAsync(string id, TenantKey key)
        {
            var answer = await CallAsync(HttpMethod.Get, $"/conversations/{id}", key, null);
            Assert.True(answer.Status == 200, $"GET /conversations/{id} as {key.Tenant}: {answer.Status} {answer.Body}");
            return answer.Body;
        }
    }

    /// <summary>
    /// Keys authenticate every route but /healthz; a conversation is its tenant's alone (another tenant, the admin
    /// included, hears 404, and naming its id makes a conversation of its own); the operator routes want an admin key.
    /// </summary>
    private static AccessMatrix Expected()
    {
        var expected = new AccessMatrix(MatrixRoutes, MatrixCallers);
        foreach (var route in MatrixRoutes)
        {
            expected[route, NoKey] = route == Health ? "200" : "401";
            foreach (var caller in (string[])[Owner, Other, Operator])
            {
                expected[route, caller] = route switch
                {
                    Create => "201",
                    Send or Read or Delete when caller != Owner => "404",
                    Delete => "204",
                    Metrics or Dashboard when caller != Operator => "403",
                    _ => "200",
                };
            }
        }

        return expected;
    }

    private static JsonObject Message(string content) => new() { ["content"] = content, ["max_tokens"] = 4, ["temperature"] = 0 };

    private static JsonObject ChatBody(string content) => new()
    {
        ["model"] = "tiny-chat",
        ["max_tokens"] = 4,
        ["temperature"] = 0,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content }),
    };

    /// <summary>The number of messages of a GET /conversations/{id} body.</summary>
    private static int Count(string conversation)
    {
        using var document = JsonDocument.Parse(conversation);
        return document.RootElement.GetProperty("messages").GetArrayLength();
    }

    private static string Shorten(string text) => text.Length > 200 ? text[..200] + " …" : text;
}
