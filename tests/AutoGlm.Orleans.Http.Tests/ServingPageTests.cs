using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AutoGlm.Orleans.Http.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Orleans.Http.Tests;

/// <summary>
/// The operator's serving page (/dashboard/serving) and its data (/dashboard/serving/data) on the open loopback silo:
/// the figures after a couple of turns, and the page as headless chromium draws it.
/// </summary>
public sealed class ServingPageTests(SiloServer server)
{
    private const long KvBudget = 256L * 1024 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Address => server.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString();

    [Fact]
    public async Task The_data_endpoint_reports_the_silos_queue_kv_rates_latencies_and_counters()
    {
        await RunTurnsAsync(server.Http);
        using var response = await server.Http.GetAsync("/dashboard/serving/data", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var data = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(data.GetProperty("collected_at").TryGetDateTimeOffset(out _));
        var silo = Assert.Single(data.GetProperty("silos").EnumerateArray());
        Assert.Equal(Address, silo.GetProperty("address").GetString());
        Assert.False(silo.TryGetProperty("error", out _));
        var figures = silo.GetProperty("figures");

        Assert.Equal("tiny-chat", figures.GetProperty("model").GetString());
        Assert.True(figures.GetProperty("conversations").GetInt32() >= 1);
        Assert.True(figures.GetProperty("kv_used_bytes").GetInt64() > 0);
        Assert.Equal(KvBudget, figures.GetProperty("kv_budget_bytes").GetInt64());
        Assert.True(figures.GetProperty("output_tokens").GetInt64() >= 16);
        Assert.True(figures.GetProperty("prompt_tokens").GetInt64() > figures.GetProperty("cached_prompt_tokens").GetInt64());
        Assert.InRange(figures.GetProperty("cache_hit_rate").GetDouble(), 0.01, 1);
        Assert.True(figures.GetProperty("turns").GetInt64() >= 2);
        foreach (var latency in new[] { "ttft", "itl" })
        {
            Assert.True(figures.GetProperty(latency + "_samples").GetInt32() > 0);
            var p50 = figures.GetProperty(latency + "_p50_seconds").GetDouble();
            Assert.InRange(p50, 0, figures.GetProperty(latency + "_p99_seconds").GetDouble());
        }

        foreach (var name in new[]
        {
            "running", "waiting", "max_batch_size", "sequences", "kv_reserved_bytes", "kv_evictions", "output_tokens_per_second",
            "rate_window_seconds", "latency_window_seconds", "kv_moves", "recompute_avoided_tokens", "recomputed_tokens", "shared_tokens",
        })
        {
            Assert.True(figures.GetProperty(name).GetDouble() >= 0, name);
        }

        // The engine's restore tier (on by default: a disk tier of 4 GiB on CPU) is reported with its bound.
        Assert.True(figures.GetProperty("restore_used_bytes").GetInt64() >= 0);
        Assert.Equal(4L << 30, figures.GetProperty("restore_budget_bytes").GetInt64());
    }

    [Fact]
    public async Task The_page_is_one_self_contained_html_file()
    {
        using var response = await server.Http.GetAsync("/dashboard/serving", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("connect-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("/data", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script src", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https://", html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Headless_chromium_draws_each_silos_address_conversations_and_kv()
    {
        if (HeadlessChromium.Find() is not { } chromium)
        {
            Assert.Skip("no chromium on PATH (Debian's 'chromium' package; test.sh installs it): the page is not drawn");
            return;
        }

        await RunTurnsAsync(server.Http);
        var page = new Uri(server.BaseAddress, "/dashboard/serving");

        var png = Path.Combine(AppContext.BaseDirectory, "serving-page.png");
        File.Delete(png);
        await HeadlessChromium.ScreenshotAsync(chromium, page, png, Ct);
        var bytes = await File.ReadAllBytesAsync(png, Ct);
        Assert.True(bytes.Length > 20_000, $"the screenshot has {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        TestContext.Current.SendDiagnosticMessage($"serving page screenshot: {png} ({bytes.Length} bytes)");

        var dom = await HeadlessChromium.DumpDomAsync(chromium, page, Ct);
        var card = Regex.Match(dom, $"<section class=\"silo\" data-address=\"{Regex.Escape(Address)}\">(.*?)</section>", RegexOptions.Singleline);
        Assert.True(card.Success, "no card for " + Address + " in:\n" + dom[..Math.Min(dom.Length, 4000)]);
        Assert.Contains($">{Address}</h2>", card.Value, StringComparison.Ordinal);
        Assert.True(Field(card.Value, "conversations") >= 1);
        Assert.True(Field(card.Value, "kv_used_bytes") > 0);
        Assert.Equal(KvBudget, Field(card.Value, "kv_budget_bytes"));
        Assert.Contains(">256 MiB<", card.Value, StringComparison.Ordinal);
        Assert.True(Field(card.Value, "output_tokens_per_second") >= 0);
        Assert.True(Field(card.Value, "ttft_p50_seconds") > 0);
        // The sparklines have a point per poll: the page polled again and again within its 5 s (one poll draws two).
        Assert.Matches("<polyline points=\"[0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+ [0-9.]+,[0-9.]+", card.Value);
        Assert.Contains("data-field=\"restore_used_bytes\" data-value=\"", card.Value, StringComparison.Ordinal);
    }

    /// <summary>Two turns of one conversation through the OpenAI route (the second reuses the first's KV).</summary>
    internal static async Task RunTurnsAsync(HttpClient http)
    {
        var history = new List<object> { new { role = "user", content = "Tell me about the serving page." } };
        for (var turn = 0; turn < 2; turn++)
        {
            using var response = await http.PostAsJsonAsync("/v1/chat/completions",
                new { model = "tiny-chat", messages = history, max_tokens = 8, ignore_eos = true, temperature = 0 }, Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var reply = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            var text = reply.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
            history.Add(new { role = "assistant", content = text });
            history.Add(new { role = "user", content = "And then?" });
        }
    }

    /// <summary>The data-value of a field's element in a card; -1 when it is absent or empty.</summary>
    private static double Field(string card, string field)
    {
        var match = Regex.Match(card, $"data-field=\"{Regex.Escape(field)}\" data-value=\"([^\"]*)\"");
        return match.Success && double.TryParse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : -1;
    }
}
