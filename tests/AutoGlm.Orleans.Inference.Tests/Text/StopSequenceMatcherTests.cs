using System.Text;
using AutoGlm.Orleans.Inference.Text;

namespace AutoGlm.Orleans.Inference.Tests.Text;

public sealed class StopSequenceMatcherTests
{
    [Fact]
    public void A_stop_string_split_across_deltas_stops_without_leaking()
    {
        var matcher = new StopSequenceMatcher(["lo W"]);
        // The final "l" may start "lo W", so it waits.
        Assert.Equal(("He", false), matcher.Push("Hel"));
        // "llo Wo" holds "lo W" whole: only the "l" before it goes out.
        Assert.Equal(("l", true), matcher.Push("lo Wo"));
        Assert.Equal((string.Empty, true), matcher.Push("rld"));
        Assert.Equal(string.Empty, matcher.Flush());
        Assert.True(matcher.Stopped);
        Assert.Equal("lo W", matcher.MatchedStop);
    }

    [Fact]
    public void Emitted_text_is_everything_before_the_stop_string()
    {
        var matcher = new StopSequenceMatcher(["lo W"]);
        var emitted = new StringBuilder();
        var stopped = false;
        foreach (var delta in new[] { "Hel", "lo Wo", "rld" })
        {
            var (emit, stop) = matcher.Push(delta);
            emitted.Append(emit);
            if (stop)
            {
                stopped = true;
                break;
            }
        }

        Assert.True(stopped);
        Assert.Equal("Hel", emitted.ToString());
    }

    [Fact]
    public void Text_without_stop_strings_passes_through_after_flush()
    {
        var matcher = new StopSequenceMatcher(["<|endoftext|>", "<|user|>"]);
        var emitted = new StringBuilder();
        foreach (var delta in new[] { "Hello", " <", "|", "assistant", "|> and <|", "end", " of it" })
        {
            var (emit, stopped) = matcher.Push(delta);
            Assert.False(stopped);
            emitted.Append(emit);
        }

        emitted.Append(matcher.Flush());
        Assert.Equal("Hello <|assistant|> and <|end of it", emitted.ToString());
        Assert.False(matcher.Stopped);
        Assert.Null(matcher.MatchedStop);
    }

    [Fact]
    public void A_possible_stop_prefix_is_held_until_settled()
    {
        var matcher = new StopSequenceMatcher(["<|endoftext|>"]);
        Assert.Equal(("Answer", false), matcher.Push("Answer<|end"));
        Assert.Equal(("<|end!", false), matcher.Push("!"));
        Assert.Equal(("done", false), matcher.Push("done<|endoftext"));
        Assert.Equal((string.Empty, true), matcher.Push("|>more"));
    }

    [Fact]
    public void The_earliest_of_several_stop_strings_wins()
    {
        var matcher = new StopSequenceMatcher(["world", "lo w"]);
        Assert.Equal(("Hel", true), matcher.Push("Hello world"));
        Assert.Equal("lo w", matcher.MatchedStop);
    }

    [Fact]
    public void No_stop_strings_means_pass_through()
    {
        var matcher = new StopSequenceMatcher([]);
        Assert.Equal(("anything <|", false), matcher.Push("anything <|"));
        Assert.Equal(string.Empty, matcher.Flush());
        Assert.Throws<ArgumentException>(() => new StopSequenceMatcher(["ok", ""]));
    }
}
