using System.Buffers;
using System.Text.Json;

namespace AutoGlm.Orleans.Silo.Http.Responses;

/// <summary>Writes a body built with a <see cref="Utf8JsonWriter"/>: as a JSON response, or as one server-sent event.</summary>
internal static class JsonWriting
{
    private static readonly byte[] EventField = "event: "u8.ToArray();
    private static readonly byte[] DataField = "\ndata: "u8.ToArray();
    private static readonly byte[] End = "\n\n"u8.ToArray();

    public static async Task WriteJsonAsync(HttpResponse response, Action<Utf8JsonWriter> write, int status = StatusCodes.Status200OK,
        CancellationToken cancellationToken = default)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        response.StatusCode = status;
        response.ContentType = "application/json";
        await response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
    }

    /// <summary>"event: {type}\ndata: {json}\n\n", flushed so the client sees it at once.</summary>
    public static async Task WriteEventAsync(HttpResponse response, string type, Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            write(json);
        }

        await response.Body.WriteAsync(EventField, cancellationToken);
        await response.Body.WriteAsync(System.Text.Encoding.UTF8.GetBytes(type), cancellationToken);
        await response.Body.WriteAsync(DataField, cancellationToken);
        await response.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
        await response.Body.WriteAsync(End, cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }
}
