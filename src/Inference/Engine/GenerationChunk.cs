namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// One streamed piece of a reply: a token and the text it completed (text may be empty while a multi-byte
/// character or a possible stop sequence is held back). The last chunk carries the finish reason and usage.
/// </summary>
public sealed record GenerationChunk(int? TokenId, string Text, FinishReason? FinishReason = null, GenerationUsage? Usage = null)
{
    public bool IsFinal => FinishReason is not null;
}
