namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>How a graceful stop went: whether the process exited by itself, how long it took, its exit code.</summary>
public sealed record ShutdownResult(bool Exited, TimeSpan Elapsed, int? ExitCode);
