using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Client;

namespace AutoGlm.Orleans.Cli;

/// <summary>One line for the user from whatever failed: the message, never a stack trace.</summary>
internal static class ErrorText
{
    public static string Describe(Exception exception) => OneLine(exception switch
    {
        // The cluster's typed refusals are written for the caller already.
        ContextLengthExceededException => exception.Message + " (in chat, /truncation auto lets the oldest turns leave the model's view)",
        ConversationException => exception.Message,
        _ when ConversationClient.IsInterruption(exception) => $"cannot reach the cluster: {Innermost(exception).Message}",
        ArgumentException or InvalidOperationException or IOException or System.Security.Cryptography.CryptographicException
            => exception.Message,
        _ => $"{exception.GetType().Name}: {exception.Message}",
    });

    /// <summary>The first non-blank line: Orleans' messages can run over several (the gateways it tried, and so on).</summary>
    public static string OneLine(string text)
    {
        var line = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        return string.IsNullOrEmpty(line) ? "failed" : line;
    }

    private static Exception Innermost(Exception exception)
    {
        while (exception.InnerException is { } inner)
        {
            exception = inner;
        }

        return exception;
    }
}
