using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;

namespace AutoGlm.Orleans.Grains.Tests.Support;

/// <summary>Conversation logs grown through the real planning path: plan a turn, "generate" a fixed reply, plan its commit, apply.</summary>
internal static class Logs
{
    public static readonly DateTimeOffset Now = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    public static ConversationLog Empty(int maxRequestIds = 256) => ConversationLog.Empty(maxRequestIds);

    /// <summary>Plans and applies one turn whose reply is <paramref name="reply"/>; returns the change that was applied.</summary>
    public static ConversationChange Turn(this ConversationLog log, PromptBuilder prompts, string requestId, string message, string reply = "Sure.",
        IReadOnlyList<ConversationMessage>? seed = null)
    {
        var change = PlanTurn(log, prompts, new TurnRequest(requestId, message) { Seed = seed }, reply);
        log.Apply(change);
        return change;
    }

    public static ConversationChange PlanTurn(ConversationLog log, PromptBuilder prompts, TurnRequest request, string reply)
    {
        var plan = TurnPlanner.Plan(log, request, "c1", prompts, Now);
        var generated = prompts.Encode(reply);
        var usage = new TurnUsage { PromptTokens = plan.Work.PromptTokenIds.Count, CompletionTokens = generated.Length };
        var (user, assistant, start, length) = TurnPlanner.Messages(plan, prompts, reply, generated, ReplyFinishReason.Stop, usage, Now);
        return log.PlanTurn(plan.RequestId, plan.Fingerprint, plan.Seed, user, assistant, start, length, "silo-a", 0, Now, plan.Window, plan.Items);
    }

    public static ConversationMessage User(string content) => new() { Role = MessageRole.User, Content = content };

    public static ConversationMessage Assistant(string content) => new() { Role = MessageRole.Assistant, Content = content };

    public static ConversationMessage System(string content) => new() { Role = MessageRole.System, Content = content };
}
