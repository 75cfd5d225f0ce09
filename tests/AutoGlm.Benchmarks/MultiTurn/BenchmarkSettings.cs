namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>Where the model and the child programs are, and how many cores each system may use.</summary>
public sealed record BenchmarkSettings
{
    public required string ModelPath { get; init; }

    public required int ContextLength { get; init; }

    public required string RepositoryRoot { get; init; }

    /// <summary>Intra-op threads of an engine (ours and ONNX Runtime GenAI's alike): all cores by default.</summary>
    public int IntraOpThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>Workers of the stateless service; they split <see cref="IntraOpThreads"/> between them.</summary>
    public int StatelessWorkers { get; init; } = Environment.ProcessorCount;

    /// <summary>The cluster silos' Conversations:ChunkWindow; null keeps the silo's default.</summary>
    public TimeSpan? ChunkWindow { get; init; }

    /// <summary>The ortgenai child's assembly, when not the one built next to the sources.</summary>
    public string? OrtGenAiAssembly { get; init; }

    /// <summary>Where tools/llamacpp/build.sh built llama-server and the GGUFs, when not tools/llamacpp/work.</summary>
    public string? LlamaCppDirectory { get; init; }
}
