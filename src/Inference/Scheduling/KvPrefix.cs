namespace AutoGlm.Orleans.Inference.Scheduling;

internal static class KvPrefix
{
    /// <summary>How many leading tokens <paramref name="cached"/> and <paramref name="prompt"/> share, at most <paramref name="limit"/>.</summary>
    public static int Common(IReadOnlyList<int> cached, int[] prompt, int limit)
    {
        var n = Math.Min(Math.Min(cached.Count, prompt.Length), limit);
        var i = 0;
        while (i < n && cached[i] == prompt[i])
        {
            i++;
        }

        return i;
    }
}
