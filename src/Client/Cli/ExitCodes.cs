namespace AutoGlm.Orleans.Cli;

/// <summary>The CLI's exit codes: scripts tell a bad command line (fix the call) from a refused or failed one.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The cluster refused the request or could not be reached.</summary>
    public const int Failure = 1;

    /// <summary>The command line did not parse (bad value, unknown option, missing required option).</summary>
    public const int Usage = 2;

    /// <summary>Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int Cancelled = 130;
}
