using System.Text;
using AutoGlm.Orleans.Inference.Text;

namespace AutoGlm.Orleans.Inference.Tests.Text;

public sealed class StopSequenceMatcherTests
{
    /// <summary>Appends a delta and releases what the matcher allows, as the output processor does for each token.</summary>
    private static (string Emit, bool Stopped) Push(StopSequenceMatcher matcher, OutputText text, string delta, bool final = false)
    {
        text.Append(delta);
        var emit = text.Release(matcher.Releasable(text.Held, final)).ToString();
        if (matcher.Stopped)
        {
            text.DropHeld();
        }

        return (emit, matcher.Stopped);
    }

    [Fact]
    public void A_stop_string_split_across_deltas_stops_without_leaking()
    {
        var matcher = new StopSequenceMatcher(["lo W"]);
        var text = new OutputText(16);
        // The final "l" may start "lo W", so it waits.
        Assert.Equal(("He", false), Push(matcher, text, "Hel"));
        // "llo Wo" holds "lo W" whole: only the "l" before it goes out.
        Assert.Equal(("l", true), Push(matcher, text, "lo Wo"));
        Assert.Equal((string.Empty, true), Push(matcher, text, "rld"));
        Assert.Equal(string.Empty, text.Held.ToString());
        Assert.True(matcher.Stopped);
        Assert.Equal("lo W", matcher.MatchedStop);
    }

    [Fact]
    public void Emitted_text_is_everything_before_the_stop_string()
    {
        var matcher = new StopSequenceMatcher(["lo W"]);
        var text = new OutputText(16);
        var emitted = new StringBuilder();
        var stopped = false;
        foreach (var delta in new[] { "Hel", "lo Wo", "rld" })
        {
            var (emit, stop) = Push(matcher, text, delta);
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
    public void Text_without_stop_strings_passes_through_once_final()
    {
        var matcher = new StopSequenceMatcher(["<|endoftext|>", "<|user|>"]);
        var text = new OutputText(4);
        var emitted = new StringBuilder();
        foreach (var delta in new[] { "Hello", " <", "|", "assistant", "|> and <|", "end", " of it <|" })
        {
            var (emit, stopped) = Push(matcher, text, delta);
            Assert.False(stopped);
            emitted.Append(emit);
        }

        Assert.Equal("<|", text.Held.ToString());
        emitted.Append(Push(matcher, text, string.Empty, final: true).Emit);
        Assert.Equal("Hello <|assistant|> and <|end of it <|", emitted.ToString());
        Assert.False(matcher.Stopped);
        Assert.Null(matcher.MatchedStop);
    }

    [Fact]
    public void A_possible_stop_prefix_is_held_until_settled()
    {
        var matcher = new StopSequenceMatcher(["<|endoftext|>"]);
        var text = new OutputText(16);
        Assert.Equal(("Answer", false), Push(matcher, text, "Answer<|end"));
        Assert.Equal(("<|end!", false), Push(matcher, text, "!"));
        Assert.Equal(("done", false), Push(matcher, text, "done<|endoftext"));
        Assert.Equal((string.Empty, true), Push(matcher, text, "|>more"));
    }

    [Fact]
    public void The_earliest_of_several_stop_strings_wins()
    {
        var matcher = new StopSequenceMatcher(["world", "lo w"]);
        Assert.Equal(("Hel", true), Push(matcher, new OutputText(16), "Hello world"));
        Assert.Equal("lo w", matcher.MatchedStop);
    }

    [Fact]
    public void No_stop_strings_means_pass_through()
    {
        var matcher = new StopSequenceMatcher([]);
        Assert.Equal(("anything <|", false), Push(matcher, new OutputText(16), "anything <|"));
        Assert.Throws<ArgumentException>(() => new StopSequenceMatcher(["ok", ""]));
    }

    [Fact]
    public void Released_slices_survive_the_buffer_growing_and_a_stop_dropping_held_text()
    {
        var matcher = new StopSequenceMatcher(["STOP"]);
        var text = new OutputText(16);
        var released = new List<ReadOnlyMemory<char>>();
        for (var i = 0; i < 50; i++)
        {
            text.Append($"word{i} ");
            released.Add(text.Release(matcher.Releasable(text.Held)));
        }

        text.Append("tail ST");
        released.Add(text.Release(matcher.Releasable(text.Held)));
        text.Append("OP and more");
        released.Add(text.Release(matcher.Releasable(text.Held)));
        Assert.True(matcher.Stopped);
        text.DropHeld();

        var expected = string.Concat(Enumerable.Range(0, 50).Select(i => $"word{i} ")) + "tail ";
        Assert.Equal(expected, string.Concat(released.Select(r => r.ToString())));
    }

    [Fact]
    public void A_token_allocates_nothing()
    {
        var matcher = new StopSequenceMatcher(["<|user|>", "\n\nUser:"]);
        var text = new OutputText(1 << 16);
        var delta = " some text <|".AsSpan();
        for (var i = 0; i < 10; i++)
        {
            text.Append(delta);
            text.Release(matcher.Releasable(text.Held));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            text.Append(delta);
            text.Release(matcher.Releasable(text.Held));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
