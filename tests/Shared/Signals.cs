using System.Runtime.InteropServices;

namespace AutoGlm.Orleans.Testing;

/// <summary>Real POSIX signals to a process of the test's own (Process.Kill only sends SIGKILL).</summary>
public static class Signals
{
    private const int SigTerm = 15;

    /// <summary>SIGTERM: the process shuts down gracefully.</summary>
    public static void Terminate(int processId)
    {
        if (Kill(processId, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({processId}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    // DllImport, not LibraryImport: two ints need no marshalling code, and no test project has to allow unsafe code.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
#pragma warning restore SYSLIB1054
}
