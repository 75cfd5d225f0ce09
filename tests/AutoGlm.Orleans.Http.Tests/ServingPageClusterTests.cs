using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AutoGlm.Orleans.Http.Tests.Support;
using AutoGlm.Orleans.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// The serving page of a two-silo cluster (one process, Redis membership): either silo's data lists both, each with
/// its own figures (the turns and tokens of the conversations it hosts, none counted twice), and the page draws both.
/// </summary>
public sealed class ServingPageClusterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Each_silo_reports_its_own_figures_and_the_page_draws_both()
    {
        await using var redis = new RedisServer();
        await redis.InitializeAsync();
        await using var cluster = await TlsCluster.StartAsync("serving", redis.ConnectionString, _ => [], Ct);
        var addresses = cluster.Services.Select(s => s.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString()).ToList();

        // Two conversations of two turns through each silo's HTTP API (placement puts each where it likes).
        foreach (var address in cluster.HttpAddresses)
        {
            using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
            await ServingPageTests.RunTurnsAsync(http);
        }

        using var first = new HttpClient { BaseAddress = cluster.HttpAddresses[0] };
        var silos = await BothSilosAsync(first);
        Assert.Equal(addresses.Order(StringComparer.Ordinal), silos.Select(s => s.GetProperty("address").GetString()));
        var figures = silos.Select(s => s.GetProperty("figures")).ToList();
        // 4 turns of 8 tokens each (ignore_eos): split between the silos, each counted once.
        Assert.Equal(4, figures.Sum(f => f.GetProperty("turns").GetInt64()));
        Assert.Equal(32, figures.Sum(f => f.GetProperty("output_tokens").GetInt64()));
        Assert.Equal(2, figures.Sum(f => f.GetProperty("conversations").GetInt32()));
        Assert.All(figures, f => Assert.Equal(256L * 1024 * 1024, f.GetProperty("kv_budget_bytes").GetInt64()));

        if (HeadlessChromium.Find() is not { } chromium)
        {
            Assert.Skip("no chromium on PATH (Debian's 'chromium' package; test.sh installs it): the page is not drawn");
            return;
        }

        var dom = await HeadlessChromium.DumpDomAsync(chromium, new Uri(cluster.HttpAddresses[1], "/dashboard/serving"), Ct);
        foreach (var (address, figure) in addresses.Order(StringComparer.Ordinal).Zip(figures))
        {
            var card = Regex.Match(dom, $"<section class=\"silo\" data-address=\"{Regex.Escape(address)}\">(.*?)</section>", RegexOptions.Singleline);
            Assert.True(card.Success, "no card for " + address);
            var conversations = figure.GetProperty("conversations").GetInt32();
            Assert.Contains($"data-field=\"conversations\" data-value=\"{conversations}\"", card.Value, StringComparison.Ordinal);
            Assert.Contains("data-field=\"kv_budget_bytes\" data-value=\"268435456\"", card.Value, StringComparison.Ordinal);
        }
    }

    /// <summary>The data's silos once both are active members (a new silo takes a moment to show in the others' view).</summary>
    private static async Task<List<JsonElement>> BothSilosAsync(HttpClient http)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var data = await http.GetFromJsonAsync<JsonElement>("/dashboard/serving/data", Ct);
            var silos = data.GetProperty("silos").EnumerateArray().ToList();
            if (silos.Count == 2 && silos.All(s => s.TryGetProperty("figures", out _)))
            {
                return silos;
            }

            Assert.True(DateTime.UtcNow < deadline, "the data never listed both silos: " + data);
            await Task.Delay(250, Ct);
        }
    }
}
