namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>The KV handle is already in a running generation (one turn at a time per sequence), or released.</summary>
public sealed class HandleBusyException(string handleId, string reason)
    : InvalidOperationException($"KV cache handle '{handleId}' {reason}")
{
    public string HandleId { get; } = handleId;
}
