namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>A request the engine cannot serve as asked (empty prompt, beyond the context window, bad options).</summary>
public sealed class InvalidGenerationRequestException(string message) : ArgumentException(message);
