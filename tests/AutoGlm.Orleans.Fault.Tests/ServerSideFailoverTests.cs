using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests;

/// <summary>
/// A turn sent while the silo holding its conversation lies dead (SIGKILL, not yet declared dead) is retried once by
/// the HTTP silo itself, with the same key, once the cluster noticed the death: the client sees one 200, no error.
/// </summary>
public sealed class ServerSideFailoverTests
{
    [Fact]
    public async Task A_turn_whose_grain_silo_was_just_killed_is_retried_by_the_server_and_answered_once()
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(3));
        var ct = deadline.Token;
        using var cluster = await ClusterProcesses.StartAsync(3, ClusterFaultTests.MembershipTuning, "everysec", ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var entry = cluster.Silos[0];
        var victim = cluster.Silos[1];

        string? id = null;
        for (var i = 0; id is null; i++)
        {
            Assert.True(i < 40, "no conversation was placed on the victim silo");
            var candidate = $"failover-{i}-{Guid.NewGuid():N}";
            using var created = await http.PostAsJsonAsync(new Uri(entry.HttpBase, "/conversations"), new { id = candidate }, ct);
            using var first = await SendAsync(http, entry.HttpBase, candidate, $"first-{i}", ct);
            var reply = await first.Content.ReadFromJsonAsync<JsonElement>(ct);
            if (cluster.SiloOf(reply.GetProperty("silo").GetString()) == victim)
            {
                id = candidate;
            }
        }

        await victim.KillAsync();
        var watch = Stopwatch.StartNew();
        using var response = await SendAsync(http, entry.HttpBase, id, "after-the-kill", ct);
        var elapsed = watch.Elapsed;
        var body = await response.Content.ReadAsStringAsync(ct);
        FigureLog.Write($"server-side failover: one request, answered {(int)response.StatusCode} {elapsed.TotalSeconds:F2}s after the SIGKILL");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var turn = JsonDocument.Parse(body).RootElement;
        Assert.False(turn.GetProperty("replayed").GetBoolean());
        Assert.NotSame(victim, cluster.SiloOf(turn.GetProperty("silo").GetString()));

        var view = await http.GetFromJsonAsync<JsonElement>(new Uri(entry.HttpBase, $"/conversations/{id}"), ct);
        Assert.Equal(2, view.GetProperty("messages").EnumerateArray().Count(m => m.GetProperty("request_id").GetString() == "after-the-kill"));
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, Uri endpoint, string id, string key, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, $"/conversations/{id}/messages"))
        {
            Content = JsonContent.Create(new { content = "Hello, who are you?", max_tokens = 6, temperature = 0 }),
        };
        request.Headers.Add("Idempotency-Key", key);
        return http.SendAsync(request, ct);
    }
}
