namespace AutoGlm.Orleans.Silo;

/// <summary>Configuration section "Model": which model folder the silo serves.</summary>
public sealed class ModelOptions
{
    public const string Section = "Model";

    /// <summary>A model folder; the default model copied beside the silo when unset.</summary>
    public string? Path { get; set; }

    public string ResolvePath() => Path ?? System.IO.Path.Combine(AppContext.BaseDirectory, "models", "tiny-chat");
}
