using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Tokenization;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// The scripted conversations of one run, drawn once from the seed and tokenized once with the model's own
/// tokenizer and chat template, so every system gets the very same token ids turn by turn.
/// </summary>
public sealed class Workload
{
    private Workload(WorkloadOptions options, int contextLength, IReadOnlyList<ConversationScript> conversations, int scaled)
    {
        Options = options;
        ContextLength = contextLength;
        Conversations = conversations;
        ScaledConversations = scaled;
    }

    public WorkloadOptions Options { get; }

    public int ContextLength { get; }

    public IReadOnlyList<ConversationScript> Conversations { get; }

    /// <summary>Conversations whose drawn lengths would overflow the context and were scaled down to fit.</summary>
    public int ScaledConversations { get; }

    public int TotalTurns => Conversations.Sum(c => c.Turns.Count);

    public static Workload Build(WorkloadOptions options, string modelPath)
    {
        ArgumentNullException.ThrowIfNull(options);
        var manifest = ModelFolder.Load(modelPath);
        var tokenizer = TokenizerLoader.Load(manifest.Tokenizer, modelPath);
        var template = ChatTemplates.Get(manifest.ChatTemplate);
        var endOfTurn = manifest.EndOfTurnTokenIds.Count > 0 ? manifest.EndOfTurnTokenIds[0]
            : manifest.EosTokenId ?? throw new InvalidDataException("the model has no end-of-turn token to close a reply");
        var text = new EnglishText(tokenizer);
        var random = new Random(options.Seed);
        var conversations = new List<ConversationScript>();
        var scaled = 0;
        // The template's markers around a message cost the same every turn; measured once on an empty message.
        var overhead = tokenizer.CountTokens(template.Render([new ChatMessage(ChatRole.User, "x")], addGenerationPrompt: true)) + 1;
        for (var c = 0; c < options.Conversations; c++)
        {
            var user = new int[options.Turns];
            var reply = new int[options.Turns];
            for (var t = 0; t < options.Turns; t++)
            {
                user[t] = options.UserTokens.Draw(random);
                reply[t] = options.ReplyTokens.Draw(random);
            }

            if (FitToContext(user, reply, overhead, manifest.ContextLength))
            {
                scaled++;
            }

            var turns = new List<ChatTurn>();
            for (var t = 0; t < options.Turns; t++)
            {
                var message = text.Next(random, user[t]);
                var segment = new List<int>();
                if (t > 0)
                {
                    segment.Add(endOfTurn);
                }

                segment.AddRange(tokenizer.EncodeToIds(template.Render([new ChatMessage(ChatRole.User, message)], addGenerationPrompt: true)));
                turns.Add(new ChatTurn(t + 1, message, [.. segment], reply[t]));
            }

            conversations.Add(new ConversationScript($"conv-{options.Seed}-{c:D3}", turns));
        }

        var workload = new Workload(options, manifest.ContextLength, conversations, scaled);
        foreach (var conversation in conversations)
        {
            var total = conversation.Turns.Sum(t => t.SegmentTokenIds.Length + t.ReplyTokens);
            if (total > manifest.ContextLength)
            {
                throw new InvalidOperationException(
                    $"{conversation.Id} needs {total} tokens, more than the model's context of {manifest.ContextLength}");
            }
        }

        return workload;
    }

    /// <summary>
    /// Scales a conversation's lengths down (all by one factor, so the shape of the distribution stays) when its
    /// final history would not fit in the context window. Returns whether it had to.
    /// </summary>
    private static bool FitToContext(int[] user, int[] reply, int overhead, int context)
    {
        var fixedCost = (overhead + 1) * user.Length;
        var variable = user.Sum() + reply.Sum();
        // A margin of a few tokens per turn: cutting text on a token boundary can re-encode a token longer.
        var room = context - fixedCost - (2 * user.Length);
        if (variable <= room)
        {
            return false;
        }

        var factor = Math.Max(room, 2 * user.Length) / (double)variable;
        for (var t = 0; t < user.Length; t++)
        {
            user[t] = Math.Max(1, (int)(user[t] * factor));
            reply[t] = Math.Max(1, (int)(reply[t] * factor));
        }

        return true;
    }

    /// <summary>Tokens of the prompt at each turn (history + new message), averaged over the conversations.</summary>
    public double[] MeanPromptTokensByTurn()
    {
        var result = new double[Options.Turns];
        foreach (var conversation in Conversations)
        {
            var history = 0;
            foreach (var turn in conversation.Turns)
            {
                history += turn.SegmentTokenIds.Length;
                result[turn.Index - 1] += history / (double)Conversations.Count;
                history += turn.ReplyTokens;
            }
        }

        return result;
    }
}
