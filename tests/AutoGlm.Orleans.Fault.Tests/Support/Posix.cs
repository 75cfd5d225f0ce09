using System.Runtime.InteropServices;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>libc's kill(2): a real signal to a real process id.</summary>
internal static class Posix
{
    private const int NoSuchProcess = 3; // ESRCH

    /// <summary>Sends <paramref name="signal"/>; false when the process is gone already.</summary>
    public static bool Signal(int pid, ProcessSignal signal)
    {
        if (Kill(pid, (int)signal) == 0)
        {
            return true;
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == NoSuchProcess
            ? false
            : throw new InvalidOperationException($"kill({pid}, {signal}) failed with errno {errno}");
    }

    /// <summary>Whether a process with this pid exists (signal 0 checks without sending anything).</summary>
    public static bool Exists(int pid) => Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != NoSuchProcess;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
