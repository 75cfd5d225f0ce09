using System.Globalization;
using System.Text;
using AutoGlm.Orleans.Abstractions;

namespace AutoGlm.Orleans.Cli;

/// <summary>The status command's text: a table of silos, or one conversation as key: value lines.</summary>
internal static class StatusFormat
{
    private const double MiB = 1024 * 1024;

    private static readonly string[] Header = ["SILO", "MODEL", "CONVERSATIONS", "RUNNING/WAITING", "KV USED/BUDGET", "EVICTIONS"];

    /// <summary>One row per silo, columns padded to their widest cell.</summary>
    public static string Table(IEnumerable<BatcherStats> silos)
    {
        var rows = new List<string[]> { Header };
        rows.AddRange(silos.OrderBy(s => s.Silo, StringComparer.Ordinal).Select(s => new[]
        {
            s.Silo,
            s.Model,
            Number(s.Conversations),
            $"{Number(s.Running)}/{Number(s.Waiting)}",
            Kv(s.KvUsedBytes, s.KvBudgetBytes),
            Number(s.Evictions),
        }));
        var widths = Enumerable.Range(0, Header.Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]))));
        }

        return text.ToString();
    }

    /// <summary>A conversation's status, one "key: value" per line.</summary>
    public static string Conversation(ConversationStatus status)
    {
        var lines = new (string Key, string Value)[]
        {
            // The id the user typed: the status names the grain key, which the tenant prefixes.
            ("conversation", ConversationKeys.IdOf(status.ConversationId)),
            ("tenant", ConversationKeys.TenantOf(status.ConversationId)),
            ("silo", status.Silo),
            ("messages", Number(status.Messages)),
            ("turns", Number(status.Turns)),
            ("history tokens", $"{Number(status.HistoryTokens)} of {Number(status.ContextLength)} ({Percent(status.HistoryTokens, status.ContextLength)})"),
            ("cached tokens", Number(status.CachedTokens)),
            ("kv", $"{Mib(status.KvBytes)} MiB"),
            ("generating", status.IsGenerating ? "yes" : "no"),
            ("system prompt", status.SystemPrompt is null ? "(none)" : ErrorText.OneLine(status.SystemPrompt)),
            ("default options", Options(status.DefaultOptions)),
            ("version", Number(status.Version)),
        };
        var width = lines.Max(l => l.Key.Length) + 1;
        var text = new StringBuilder();
        foreach (var (key, value) in lines)
        {
            text.Append((key + ":").PadRight(width + 1)).AppendLine(value);
        }

        return text.ToString();
    }

    /// <summary>The options that are set, as name=value; "(none)" when every field falls back to the engine's.</summary>
    public static string Options(GenerationOptions? options)
    {
        if (options is null)
        {
            return "(none)";
        }

        var set = new List<string>();
        Add("temperature", options.Temperature);
        Add("top_k", options.TopK);
        Add("top_p", options.TopP);
        Add("repetition_penalty", options.RepetitionPenalty);
        Add("seed", options.Seed);
        Add("max_tokens", options.MaxNewTokens);
        if (options.StopSequences is { Count: > 0 } stops)
        {
            set.Add("stop=" + string.Join(",", stops.Select(s => $"\"{s}\"")));
        }

        if (options.IgnoreEndOfTurn is { } ignore)
        {
            set.Add(ignore ? "ignore_eos=true" : "ignore_eos=false");
        }

        if (options.Truncation is { } truncation)
        {
            set.Add("truncation=" + truncation.ToString().ToLowerInvariant());
        }

        return set.Count == 0 ? "(none)" : string.Join(" ", set);

        void Add<T>(string name, T? value)
            where T : struct, IFormattable
        {
            if (value is { } v)
            {
                set.Add($"{name}={v.ToString(null, CultureInfo.InvariantCulture).ToLowerInvariant()}");
            }
        }
    }

    private static string Kv(long used, long budget) => $"{Mib(used)}/{Mib(budget)} MiB ({Percent(used, budget)})";

    private static string Mib(long bytes) => (bytes / MiB).ToString("0.0", CultureInfo.InvariantCulture);

    private static string Percent(long part, long whole) =>
        whole <= 0 ? "-" : (100.0 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
}
