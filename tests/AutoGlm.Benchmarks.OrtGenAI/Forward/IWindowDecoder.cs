namespace AutoGlm.Orleans.Benchmarks.OrtGenAI.Forward;

/// <summary>One system of the forward comparison: decodes one sequence, a window of steps at a time.</summary>
internal interface IWindowDecoder : IDisposable
{
    string Name { get; }

    /// <summary>Decodes <paramref name="steps"/> more tokens of the sequence; the milliseconds a step they took.</summary>
    Task<double> DecodeWindowAsync(int steps, CancellationToken cancellationToken);
}
