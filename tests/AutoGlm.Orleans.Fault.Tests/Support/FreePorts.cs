using System.Net;
using System.Net.Sockets;

namespace AutoGlm.Orleans.Fault.Tests.Support;

/// <summary>Free loopback TCP ports: bound to port 0 together (so they are distinct), then released for the child to take.</summary>
public static class FreePorts
{
    public static int[] Take(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }

    public static int Take() => Take(1)[0];
}
