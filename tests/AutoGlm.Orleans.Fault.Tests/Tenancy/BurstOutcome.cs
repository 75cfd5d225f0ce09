namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>What one client of a burst got back.</summary>
/// <param name="Tenant">The tenant whose key it sent.</param>
/// <param name="Status">The HTTP status; 0 when no response came (<paramref name="Failure"/> says why).</param>
/// <param name="RetryAfter">The Retry-After header, if any.</param>
/// <param name="LimitRequests">x-ratelimit-limit-requests, if any.</param>
/// <param name="RemainingRequests">x-ratelimit-remaining-requests, if any.</param>
/// <param name="Code">error.code of an error body.</param>
/// <param name="ShapeProblem">What is wrong with an error body's shape (null: OpenAI-shaped, or not an error).</param>
/// <param name="ConversationId">X-Conversation-Id of an answered turn.</param>
/// <param name="HasReply">An answered turn carries choices[0].message.content.</param>
/// <param name="Failure">The transport failure, when no response came.</param>
public sealed record BurstOutcome(
    string Tenant,
    int Status,
    string? RetryAfter,
    string? LimitRequests,
    string? RemainingRequests,
    string? Code,
    string? ShapeProblem,
    string? ConversationId,
    bool HasReply,
    string? Failure);
