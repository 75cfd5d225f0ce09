using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Inference.Chat;

namespace AutoGlm.Orleans.Grains.Conversations;

/// <summary>
/// A client's history made ready to store: the system prompt (null keeps the conversation's own), the messages
/// with their segment ids, the tokens they take, and the last message (the next segment renders after it).
/// </summary>
public sealed record TurnSeed(SystemPromptRecord? SystemPrompt, IReadOnlyList<ConversationMessage> Messages, int Tokens, ChatMessage? Last);
