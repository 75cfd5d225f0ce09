using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AutoGlm.Orleans.Fault.Tests.Support;

namespace AutoGlm.Orleans.Fault.Tests;

/// <summary>
/// SIGTERM with turns that cannot finish before the shutdown deadline, across real processes: each stream ends
/// with an explicit error event (never a silent end, never [DONE]), nothing of those turns is stored, the silo exits
/// by itself, and each turn's retry with its key runs on the surviving silo.
/// </summary>
public sealed class ShutdownDeadlineTests
{
    private const int LongReply = 1900;

    [Fact]
    public async Task Turns_still_running_at_the_shutdown_deadline_end_with_an_error_event_and_store_nothing()
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(3));
        var ct = deadline.Token;
        using var cluster = await ClusterProcesses.StartAsync(2,
            [.. ClusterFaultTests.MembershipTuning, "--Conversations:ShutdownDeadline", "00:00:00.500"], "everysec", ct);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var victim = cluster.Silos[0];
        var survivor = cluster.Silos[1];
        var ids = await ConversationsOnAsync(http, cluster, victim, survivor.HttpBase, count: 2, ct);

        // One stream reaches the victim's grain through the survivor's HTTP, one through the victim's own HTTP.
        await using var throughSurvivor = await SseStream.StartAsync(http, survivor.HttpBase, ids[0], "long-0", LongReply, ct);
        await using var throughVictim = await SseStream.StartAsync(http, victim.HttpBase, ids[1], "long-1", LongReply, ct);
        await throughSurvivor.ReadUntilTextAsync(ct);
        await throughVictim.ReadUntilTextAsync(ct);

        var shutdown = victim.TerminateAsync(TimeSpan.FromSeconds(60));
        var ends = await Task.WhenAll(throughSurvivor.ReadToEndAsync(ct), throughVictim.ReadToEndAsync(ct));
        var stopped = await shutdown;
        FigureLog.Write($"shutdown deadline 0.5 s: silo exited by itself: {stopped.Exited} after {stopped.Elapsed.TotalSeconds:F2}s (code {stopped.ExitCode}); "
            + $"streams ended: {string.Join(" | ", ends)}");

        Assert.True(stopped.Exited, victim.Tail(40));
        Assert.Equal(0, stopped.ExitCode);
        // Each stream ends with an explicit, retryable error: turn_interrupted as a rule; "unavailable" when the stopping
        // silo went before its error reached the other silo's HTTP handler (a loaded machine).
        foreach (var end in ends)
        {
            Assert.StartsWith("error:", end, StringComparison.Ordinal);
            Assert.True(end.StartsWith("error: turn_interrupted", StringComparison.Ordinal) || end.StartsWith("error: unavailable", StringComparison.Ordinal), end);
        }

        Assert.StartsWith("error: turn_interrupted", ends[1], StringComparison.Ordinal);

        for (var i = 0; i < ids.Length; i++)
        {
            var view = await http.GetFromJsonAsync<JsonElement>(new Uri(survivor.HttpBase, $"/conversations/{ids[i]}"), ct);
            Assert.DoesNotContain(view.GetProperty("messages").EnumerateArray(), m => m.GetProperty("request_id").GetString() == $"long-{i}");

            // The client retries with the same key: the conversation takes it on the surviving silo.
            using var retry = new HttpRequestMessage(HttpMethod.Post, new Uri(survivor.HttpBase, $"/conversations/{ids[i]}/messages"))
            {
                Content = JsonContent.Create(new { content = "Tell me a very long story.", max_tokens = 4, temperature = 0 }),
            };
            retry.Headers.Add("Idempotency-Key", $"retry-{i}");
            using var response = await http.SendAsync(retry, ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    /// <summary>Conversations whose grains live on <paramref name="silo"/>: created and first served through <paramref name="via"/>.</summary>
    private static async Task<string[]> ConversationsOnAsync(HttpClient http, ClusterProcesses cluster, SiloProcess silo, Uri via, int count,
        CancellationToken ct)
    {
        var found = new List<string>();
        for (var i = 0; found.Count < count; i++)
        {
            Assert.True(i < 40, $"no {count} conversations were placed on {silo.Name}");
            var id = $"shutdown-{i}-{Guid.NewGuid():N}";
            using (var created = await http.PostAsJsonAsync(new Uri(via, "/conversations"), new { id }, ct))
            {
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            }

            using (var first = await http.PostAsJsonAsync(new Uri(via, $"/conversations/{id}/messages"), new { content = "Hi.", max_tokens = 2 }, ct))
            {
                var reply = await first.Content.ReadFromJsonAsync<JsonElement>(ct);
                if (cluster.SiloOf(reply.GetProperty("silo").GetString()) == silo)
                {
                    found.Add(id);
                }
            }
        }

        return [.. found];
    }
}
