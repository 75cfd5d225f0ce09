using System.Net.Sockets;

namespace AutoGlm.Orleans.Fault.Tests.Load;

/// <summary>A short name for a transport failure: what a load balancer's log would say.</summary>
public static class Failures
{
    public static string Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SocketException { SocketErrorCode: SocketError.ConnectionRefused }:
                    return "connection refused";
                case SocketException { SocketErrorCode: SocketError.ConnectionReset }:
                    return "connection reset";
                case SocketException socket:
                    return "socket " + socket.SocketErrorCode;
                case HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded }:
                    return "connection closed mid-response";
                case HttpIOException { HttpRequestError: HttpRequestError.ResponseEnded }:
                    return "connection closed mid-response";
            }
        }

        var innermost = exception;
        while (innermost.InnerException is not null)
        {
            innermost = innermost.InnerException;
        }

        var message = innermost.Message.Length > 120 ? innermost.Message[..120] : innermost.Message;
        return innermost.GetType().Name + ": " + message;
    }

    /// <summary>Nothing listens on the endpoint: its process is down.</summary>
    public static bool IsConnectionRefused(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Transport-level failures (the attempt is retried; the exception is not a bug of the test).</summary>
    public static bool IsTransport(Exception exception) =>
        exception is HttpRequestException or IOException or SocketException
        || (exception is System.ClientModel.ClientResultException { Status: 0 });
}
