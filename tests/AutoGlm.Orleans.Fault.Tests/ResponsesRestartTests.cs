#pragma warning disable OPENAI001 // the Responses client is marked for evaluation in OpenAI 2.15
using System.ClientModel;
using AutoGlm.Orleans.Fault.Tests.Support;
using OpenAI.Responses;

namespace AutoGlm.Orleans.Fault.Tests;

/// <summary>
/// A Responses API chain lives in Redis, not in the silo: after SIGKILL and a restart of the real Silo process the
/// OpenAI SDK reads every stored response again, continues the chain from its latest response and forks an earlier one.
/// </summary>
public sealed class ResponsesRestartTests
{
    [Fact]
    public async Task A_chain_survives_a_silo_restart_over_Redis()
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(4));
        var ct = deadline.Token;
        using var cluster = await ClusterProcesses.StartAsync(1, ClusterFaultTests.MembershipTuning, "always", ct);
        var silo = cluster.Silos[0];
        var client = new ResponsesClient(new ApiKeyCredential("not-needed"),
            new ResponsesClientOptions { Endpoint = new Uri(silo.HttpBase, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });
        var model = (await silo.HealthAsync(ct)).GetProperty("model").GetString()!;

        var chain = new List<ResponseResult>();
        foreach (var text in new[] { "Tell me about ships.", "And their sails?", "And the crew?" })
        {
            var options = new CreateResponseOptions(model, [ResponseItem.CreateUserMessageItem(text)])
            {
                PreviousResponseId = chain.Count > 0 ? chain[^1].Id : null, MaxOutputTokenCount = 12, Temperature = 0,
            };
            chain.Add((await client.CreateResponseAsync(options, ct)).Value);
        }

        await silo.KillAsync();
        await silo.RestartAsync(ClusterProcesses.StartTimeout, ct);

        foreach (var stored in chain)
        {
            var again = (await client.GetResponseAsync(stored.Id, ct)).Value;
            Assert.Equal(stored.GetOutputText(), again.GetOutputText());
        }

        var next = (await client.CreateResponseAsync(new CreateResponseOptions(model, [ResponseItem.CreateUserMessageItem("Where did they sail?")])
        {
            PreviousResponseId = chain[^1].Id, MaxOutputTokenCount = 12, Temperature = 0,
        }, ct)).Value;
        // The whole chain is the prompt: the restarted silo recomputed what its predecessor had cached.
        Assert.True(next.Usage.InputTokenCount > chain[^1].Usage.InputTokenCount + chain[^1].Usage.OutputTokenCount,
            $"{next.Usage.InputTokenCount} input tokens after a chain of {chain[^1].Usage.InputTokenCount} + {chain[^1].Usage.OutputTokenCount}");
        Assert.Equal(chain[^1].Id, next.PreviousResponseId);

        var fork = (await client.CreateResponseAsync(new CreateResponseOptions(model, [ResponseItem.CreateUserMessageItem("Tell it again.")])
        {
            PreviousResponseId = chain[0].Id, MaxOutputTokenCount = 12, Temperature = 0,
        }, ct)).Value;
        Assert.False(string.IsNullOrEmpty(fork.GetOutputText()));
        Assert.True(fork.Usage.InputTokenCount < next.Usage.InputTokenCount, "a fork of turn 1 holds turn 1 only");
        FigureLog.Write($"responses restart: chain of 3 read back after SIGKILL + restart; continuation {next.Usage.InputTokenCount} input tokens "
            + $"({next.Usage.InputTokenDetails.CachedTokenCount} cached), fork of turn 1 {fork.Usage.InputTokenCount} ({fork.Usage.InputTokenDetails.CachedTokenCount} cached)");
    }
}
