namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>Where the model runs and its KV caches live.</summary>
public enum ExecutionDevice
{
    Cpu,
    Cuda,
}
