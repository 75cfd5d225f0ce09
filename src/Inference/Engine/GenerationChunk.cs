namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// One streamed piece of a reply: a token and the text it completed (text may be empty while a multi-byte
/// character or a possible stop sequence is held back). The last chunk carries the finish reason and usage.
/// A value, not an object, so streaming a token allocates nothing: <see cref="Text"/> is a slice of the request's
/// own append-only text, never written again once streamed, so it may be kept (or turned into a string) at leisure.
/// </summary>
public readonly record struct GenerationChunk(int? TokenId, ReadOnlyMemory<char> Text, FinishReason? FinishReason = null, GenerationUsage? Usage = null)
{
    public bool IsFinal => FinishReason is not null;
}
