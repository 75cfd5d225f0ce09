namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model ended its turn (an end-of-turn / eos token).</summary>
    Stop,
    /// <summary>A stop sequence matched.</summary>
    StopSequence,
    /// <summary>Max new tokens, or the context window, was reached.</summary>
    Length,
    /// <summary>The caller cancelled.</summary>
    Cancelled,
}
