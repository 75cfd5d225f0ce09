namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>The verdict on one attempt and, when acknowledged, the reply text the client got.</summary>
public sealed record AttemptResult(AttemptVerdict Verdict, string? Text = null)
{
    public static readonly AttemptResult Retry = new(AttemptVerdict.Retry);

    public static readonly AttemptResult Refused = new(AttemptVerdict.Refused);

    public static AttemptResult Acknowledged(string text) => new(AttemptVerdict.Acknowledged, text);

    /// <summary>409 and 5xx are worth retrying elsewhere; any other 4xx is the request's own fault.</summary>
    public static AttemptResult ForStatus(int status) => status is 409 or >= 500 ? Retry : Refused;
}
