namespace AutoGlm.Orleans.Inference.Sampling;

/// <summary>
/// How one request picks its tokens. The neutral value of each knob switches it off, so the defaults sample
/// from the model's plain distribution, as OpenAI's and Hugging Face's defaults do.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Divides the logits; 0 means greedy (argmax), which also makes the other knobs but the penalty moot.</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep only the k most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose mass reaches p; 1 keeps all.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Hugging Face's repetition penalty over tokens already in the sequence; 1 is off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>Seeds the request's random stream so a run can be replayed; null picks a random seed.</summary>
    public ulong? Seed { get; init; }

    public int MaxNewTokens { get; init; } = 256;

    /// <summary>Text that ends generation, on top of the chat template's own stop strings.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    public bool IsGreedy => Temperature == 0f;

    /// <exception cref="ArgumentOutOfRangeException">A knob is outside its range.</exception>
    public void Validate()
    {
        // Negated comparisons so NaN fails too.
        if (!(Temperature >= 0f) || float.IsPositiveInfinity(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature,
                "temperature must be a finite number >= 0 (0 means greedy)");
        }

        if (!(TopP > 0f && TopP <= 1f))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top_p must be in (0, 1] (1 turns it off)");
        }

        if (TopK < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "top_k must be >= 0 (0 turns it off)");
        }

        if (!(RepetitionPenalty > 0f) || float.IsPositiveInfinity(RepetitionPenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty,
                "repetition_penalty must be a finite number > 0 (1 turns it off)");
        }

        if (MaxNewTokens < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "max_new_tokens must be >= 1");
        }

        if (StopSequences is null)
        {
            throw new ArgumentOutOfRangeException(nameof(StopSequences), "stop sequences must not be null");
        }

        foreach (var stop in StopSequences)
        {
            if (string.IsNullOrEmpty(stop))
            {
                throw new ArgumentOutOfRangeException(nameof(StopSequences), "stop sequences must not be empty strings");
            }
        }
    }
}
