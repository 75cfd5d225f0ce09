using Microsoft.ML.OnnxRuntime;

namespace AutoGlm.Orleans.Inference.Runtime;

/// <summary>
/// <see cref="OrtEnv.CopyTensors"/> copies between devices only through the data transfers of execution
/// provider libraries registered with the environment; the CUDA provider appended to a session is not enough.
/// Registers libonnxruntime_providers_cuda once per process, from beside the ONNX Runtime native library.
/// </summary>
internal static class CudaCopySupport
{
    private const string RegistrationName = "AutoGlmCuda";
    private static readonly Lock Gate = new();
    private static bool _registered;

    public static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered)
            {
                return;
            }

            var library = FindLibrary()
                ?? throw new InvalidOperationException(
                    "libonnxruntime_providers_cuda.so was not found beside the application or in runtimes/linux-x64/native; device-to-device KV copies need it");
            OrtEnv.Instance().RegisterExecutionProviderLibrary(RegistrationName, library);
            _registered = true;
        }
    }

    private static string? FindLibrary()
    {
        var name = OperatingSystem.IsWindows() ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, name),
            Path.Combine(AppContext.BaseDirectory, "runtimes", OperatingSystem.IsWindows() ? "win-x64" : "linux-x64", "native", name),
        ];
        return candidates.FirstOrDefault(File.Exists);
    }
}
