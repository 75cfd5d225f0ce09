using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>One inline Redis command over a fresh TCP connection (no client library): readiness probes.</summary>
public static class RespProbe
{
    /// <summary>The reply's text: a status line ("+PONG" → "PONG"), an error ("-LOADING …" → "ERR:LOADING …"), a bulk string.</summary>
    public static async Task<string> CommandAsync(int port, string command, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        await using var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), timeout.Token);
        var received = new List<byte>();
        var buffer = new byte[8192];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            if (read == 0)
            {
                throw new IOException($"redis closed the connection after {received.Count} bytes");
            }

            received.AddRange(buffer.AsSpan(0, read));
            if (TryParse([.. received], out var reply))
            {
                return reply;
            }
        }
    }

    private static bool TryParse(byte[] data, out string reply)
    {
        reply = string.Empty;
        var text = Encoding.UTF8.GetString(data);
        var lineEnd = text.IndexOf("\r\n", StringComparison.Ordinal);
        if (lineEnd < 0)
        {
            return false;
        }

        var line = text[1..lineEnd];
        switch (text[0])
        {
            case '+':
            case ':':
                reply = line;
                return true;
            case '-':
                reply = "ERR:" + line;
                return true;
            case '$':
                var length = int.Parse(line, CultureInfo.InvariantCulture);
                if (length < 0)
                {
                    reply = string.Empty;
                    return true;
                }

                var body = Encoding.UTF8.GetBytes(text[(lineEnd + 2)..]);
                if (body.Length < length + 2)
                {
                    return false;
                }

                reply = Encoding.UTF8.GetString(body, 0, length);
                return true;
            default:
                throw new InvalidDataException($"unexpected redis reply: {text}");
        }
    }
}
