using AutoGlm.Orleans.Grains.Serving;

namespace AutoGlm.Orleans.Grains.Tests;

/// <summary>The serving page's windows: latency percentiles over recent samples, tokens per second over whole seconds.</summary>
public sealed class ServingWindowTests
{
    [Fact]
    public void Percentiles_are_nearest_rank_over_the_samples_younger_than_the_window()
    {
        var window = new LatencyWindow(capacity: 200, maxAge: TimeSpan.FromSeconds(60));
        Assert.Equal(0, window.Summarize(0).Samples);
        Assert.Null(window.Summarize(0).P50Seconds);

        for (var i = 1; i <= 100; i++)
        {
            window.Add(i / 1000.0, nowMs: 1_000);
        }

        var summary = window.Summarize(2_000);
        Assert.Equal(100, summary.Samples);
        Assert.Equal(0.050, summary.P50Seconds);
        Assert.Equal(0.099, summary.P99Seconds);

        // A minute later the old samples are out; a new one alone is every percentile.
        window.Add(0.5, nowMs: 70_000);
        summary = window.Summarize(70_500);
        Assert.Equal(1, summary.Samples);
        Assert.Equal(0.5, summary.P50Seconds);
        Assert.Equal(0.5, summary.P99Seconds);
    }

    [Fact]
    public void The_ring_keeps_only_the_newest_samples()
    {
        var window = new LatencyWindow(capacity: 10, maxAge: TimeSpan.FromSeconds(60));
        for (var i = 0; i < 25; i++)
        {
            window.Add(i, nowMs: 1_000);
        }

        var summary = window.Summarize(1_000);
        Assert.Equal(10, summary.Samples);
        Assert.Equal(19, summary.P50Seconds);
        Assert.Equal(24, summary.P99Seconds);
    }

    [Fact]
    public void The_rate_is_the_mean_of_the_last_whole_seconds()
    {
        var rate = new RateWindow(seconds: 5);
        Assert.Equal(0, rate.PerSecond(10_000));
        for (var second = 10; second < 15; second++)
        {
            rate.Add(20, nowMs: second * 1000L + 100);
        }

        // The running second (15) does not count yet; seconds 10–14 do.
        rate.Add(1_000, nowMs: 15_200);
        Assert.Equal(20, rate.PerSecond(15_500));
        // Once second 15 is over it counts and second 10 has left the window.
        Assert.Equal((80 + 1_000) / 5.0, rate.PerSecond(16_000));
        // Long idle: nothing.
        Assert.Equal(0, rate.PerSecond(60_000));
    }
}
