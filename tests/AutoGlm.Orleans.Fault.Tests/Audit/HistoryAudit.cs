using AutoGlm.Orleans.Fault.Tests.Load;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>
/// Every acknowledged turn stored exactly once, no turn stored twice. Checked by <c>request_id</c> (the turn's
/// Idempotency-Key, as the server records it on each message) and, independently, by content: each turn's user
/// message is unique in the run (it names its conversation and number), so it must appear once, followed by the
/// reply the client was given.
/// </summary>
public static class HistoryAudit
{
    public const string ExactlyOnceById = "every acknowledged turn is stored exactly once by request_id";
    public const string NoDuplicateIds = "no request_id appears more than once per role";
    public const string ExactlyOnceByContent = "every acknowledged turn's user message is stored exactly once, followed by the acknowledged reply";
    public const string NoDuplicateContent = "no turn's user message is stored more than once";

    public static void Run(IReadOnlyList<TurnRecord> turns, IReadOnlyDictionary<string, ConversationSnapshot> snapshots, Findings findings)
    {
        ArgumentNullException.ThrowIfNull(turns);
        ArgumentNullException.ThrowIfNull(snapshots);
        ArgumentNullException.ThrowIfNull(findings);
        findings.Checked(ExactlyOnceById, NoDuplicateIds, ExactlyOnceByContent, NoDuplicateContent);
        var messageTurns = turns.Where(t => t.IsMessage).ToList();
        var acknowledged = messageTurns.Where(t => t.Acknowledged).ToList();
        var stored = snapshots.Values.SelectMany(s => s.Messages).ToList();
        findings.Figure("conversations", snapshots.Count);
        findings.Figure("conversations not readable at the end", snapshots.Values.Count(s => !s.Found));
        findings.Figure("stored messages", stored.Count);
        findings.Figure("stored messages without request_id", stored.Count(m => m.RequestId is null));

        // By request_id.
        var lostById = new List<TurnRecord>();
        var notOnceById = new List<(TurnRecord Turn, string Why)>();
        foreach (var turn in acknowledged)
        {
            var messages = snapshots[turn.ConversationId].Messages;
            var users = messages.Where(m => m.Role == "user" && m.RequestId == turn.Key).ToList();
            var assistants = messages.Where(m => m.Role == "assistant" && m.RequestId == turn.Key).ToList();
            if (users.Count == 0 && assistants.Count == 0)
            {
                lostById.Add(turn);
            }

            if (users.Count != 1 || assistants.Count != 1)
            {
                notOnceById.Add((turn, $"{users.Count} user and {assistants.Count} assistant messages carry request_id {turn.Key}"));
            }
            else if (assistants[0].Content != turn.AcknowledgedText || users[0].Content != turn.Content)
            {
                notOnceById.Add((turn, $"key {turn.Key}: stored reply \"{Short(assistants[0].Content)}\" ≠ acknowledged \"{Short(turn.AcknowledgedText)}\""));
            }
        }

        var duplicateIds = snapshots.Values
            .SelectMany(s => s.Messages.Where(m => m.RequestId is not null).GroupBy(m => (s.Id, m.Role, m.RequestId)))
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key.Id}: {g.Count()} {g.Key.Role} messages with request_id {g.Key.RequestId}")
            .ToList();
        findings.Figure("acknowledged turns lost (by request_id)", lostById.Count);
        findings.Figure("request_ids stored more than once per role", duplicateIds.Count);
        if (notOnceById.Count > 0)
        {
            findings.Fail(ExactlyOnceById, $"{notOnceById.Count} of {acknowledged.Count} acknowledged turns, e.g. {string.Join("; ", notOnceById.Take(3).Select(x => x.Why))}",
                notOnceById.OrderByDescending(x => x.Turn.Retries).Select(x => x.Turn));
        }

        if (duplicateIds.Count > 0)
        {
            findings.Fail(NoDuplicateIds, $"{duplicateIds.Count}, e.g. {string.Join("; ", duplicateIds.Take(3))}");
        }

        // By content.
        var lostByContent = new List<TurnRecord>();
        var wrongReply = new List<(TurnRecord Turn, string Why)>();
        var duplicated = new List<(TurnRecord Turn, int Count)>();
        foreach (var turn in messageTurns)
        {
            var messages = snapshots[turn.ConversationId].Messages;
            var positions = Enumerable.Range(0, messages.Count).Where(i => messages[i].Role == "user" && messages[i].Content == turn.Content).ToList();
            if (positions.Count > 1)
            {
                duplicated.Add((turn, positions.Count));
            }

            if (!turn.Acknowledged)
            {
                continue;
            }

            if (positions.Count == 0)
            {
                lostByContent.Add(turn);
                continue;
            }

            var reply = positions[0] + 1 < messages.Count && messages[positions[0] + 1].Role == "assistant" ? messages[positions[0] + 1].Content : null;
            if (reply != turn.AcknowledgedText)
            {
                wrongReply.Add((turn, $"{turn.Key}: stored reply \"{Short(reply)}\" ≠ acknowledged \"{Short(turn.AcknowledgedText)}\""));
            }
        }

        findings.Figure("acknowledged turns lost (by content)", lostByContent.Count);
        findings.Figure("turns stored more than once (by content)", duplicated.Count);
        findings.Figure("acknowledged turns whose stored reply differs from the acknowledged text", wrongReply.Count);
        if (lostByContent.Count + wrongReply.Count + duplicated.Count(d => d.Turn.Acknowledged) > 0)
        {
            var examples = lostByContent.Take(2).Select(t => t.Key + " lost").Concat(wrongReply.Take(2).Select(w => w.Why));
            findings.Fail(ExactlyOnceByContent,
                $"{lostByContent.Count} lost, {duplicated.Count(d => d.Turn.Acknowledged)} stored more than once, {wrongReply.Count} with another reply; e.g. {string.Join("; ", examples)}",
                lostByContent.Concat(wrongReply.Select(w => w.Turn)).Concat(duplicated.Where(d => d.Turn.Acknowledged).Select(d => d.Turn)));
        }

        if (duplicated.Count > 0)
        {
            var examples = duplicated.Take(3).Select(d => $"{d.Turn.Key} ×{d.Count}");
            findings.Fail(NoDuplicateContent,
                $"{duplicated.Count} turns ({duplicated.Count(d => !d.Turn.Acknowledged)} of them never acknowledged), e.g. {string.Join("; ", examples)}",
                duplicated.Select(d => d.Turn));
        }
    }

    private static string Short(string? text) => text is null ? "(none)" : text.Length > 50 ? text[..50] + "…" : text;
}
