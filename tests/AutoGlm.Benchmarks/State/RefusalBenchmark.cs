using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace AutoGlm.Orleans.Benchmarks.State;

/// <summary>
/// How fast bad input is refused, over real HTTP against a silo (Orleans + Kestrel) in this process: a 1 MiB body of
/// 4,096 messages (far beyond the context window), a small request with a bad option, and for scale a short turn
/// that runs. Medians of repeated requests after a warm-up; ratios against the short turn.
/// </summary>
internal static class RefusalBenchmark
{
    public static async Task<JsonObject> RunAsync(string modelPath, int repeats)
    {
        await using var silo = await HttpSilo.StartAsync(modelPath);
        var http = silo.Http;
        var huge = HugeBody();
        var bad = """{"model":"tiny-chat","temperature":5,"messages":[{"role":"user","content":"Hi"}]}""";
        var turn = """{"model":"tiny-chat","max_tokens":8,"temperature":0,"messages":[{"role":"user","content":"Hello there."}]}""";
        var result = new JsonObject
        {
            ["huge_body_bytes"] = Encoding.UTF8.GetByteCount(huge),
            ["huge_body_messages"] = 4096,
            ["refuse_1mib_4096_messages"] = await MeasureAsync(http, huge, HttpStatusCode.BadRequest, repeats),
            ["refuse_bad_option"] = await MeasureAsync(http, bad, HttpStatusCode.BadRequest, repeats),
            ["short_turn_8_tokens"] = await MeasureAsync(http, turn, HttpStatusCode.OK, repeats),
        };
        result["refuse_1mib_over_short_turn"] = Math.Round(
            result["refuse_1mib_4096_messages"]!["median_ms"]!.GetValue<double>() / result["short_turn_8_tokens"]!["median_ms"]!.GetValue<double>(), 3);
        return result;
    }

    /// <summary>A system message, then 4,095 alternating user and assistant messages of real words, just under the 1 MiB body limit.</summary>
    private static string HugeBody()
    {
        var words = "the quick brown fox jumps over the lazy dog while the river runs past the old mill and the town sleeps ";
        var content = string.Concat(Enumerable.Repeat(words, 3))[..220];
        var body = new StringBuilder("""{"model":"tiny-chat","messages":[{"role":"system","content":"Be brief."}""");
        for (var i = 1; i < 4096; i++)
        {
            body.Append(CultureInfo.InvariantCulture, $$""",{"role":"{{(i % 2 == 1 ? "user" : "assistant")}}","content":"{{content}}"}""");
        }

        return body.Append("]}").ToString();
    }

    private static async Task<JsonObject> MeasureAsync(HttpClient http, string body, HttpStatusCode expected, int repeats)
    {
        var times = new List<double>();
        for (var i = -3; i < repeats; i++)
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            var watch = Stopwatch.StartNew();
            using var response = await http.PostAsync("/v1/chat/completions", content);
            _ = await response.Content.ReadAsByteArrayAsync();
            watch.Stop();
            if (response.StatusCode != expected)
            {
                throw new InvalidOperationException($"expected {expected}, got {response.StatusCode}");
            }

            if (i >= 0)
            {
                times.Add(watch.Elapsed.TotalMilliseconds);
            }
        }

        times.Sort();
        return new JsonObject
        {
            ["median_ms"] = Math.Round(times[times.Count / 2], 2),
            ["p95_ms"] = Math.Round(times[(int)Math.Min(times.Count - 1, Math.Ceiling(times.Count * 0.95) - 1)], 2),
            ["requests"] = repeats,
        };
    }
}
