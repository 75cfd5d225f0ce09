using System.Globalization;

namespace AutoGlm.Orleans.Fault.Tests.Tenancy;

/// <summary>A process's resident set now (VmRSS) and its peak so far (VmHWM), from <c>/proc/{pid}/status</c>.</summary>
public sealed record ProcessMemory(long ResidentBytes, long PeakResidentBytes)
{
    public const long Mib = 1024 * 1024;

    public static ProcessMemory Read(int pid)
    {
        long? resident = null, peak = null;
        foreach (var line in File.ReadLines(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/status")))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                resident = Kib(line);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kib(line);
            }
        }

        return new ProcessMemory(
            resident ?? throw new InvalidDataException($"no VmRSS for pid {pid}"),
            peak ?? throw new InvalidDataException($"no VmHWM for pid {pid}"));
    }

    public static string Format(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)Mib:F1} MiB");

    /// <summary>"VmRSS:\t  123456 kB" → bytes.</summary>
    private static long Kib(string line)
    {
        var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
    }
}
