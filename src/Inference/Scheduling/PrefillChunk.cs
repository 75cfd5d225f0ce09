namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>Prompt tokens [Start, Start + Length) of one request, computed this step; the last chunk samples its first token.</summary>
internal readonly record struct PrefillChunk(ActiveRequest Request, int Start, int Length)
{
    public bool CompletesPrompt => Start + Length == Request.Prompt.Length;
}
