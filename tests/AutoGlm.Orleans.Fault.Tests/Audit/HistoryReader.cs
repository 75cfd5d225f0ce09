using System.Globalization;
using System.Net;
using System.Text.Json;

namespace AutoGlm.Orleans.Fault.Tests.Audit;

/// <summary>Reads conversations back with <c>GET /conversations/{id}</c>, failing over between endpoints like the load did.</summary>
public sealed class HistoryReader(HttpClient http, IReadOnlyList<Uri> endpoints)
{
    private const int Attempts = 6;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    public async Task<IReadOnlyDictionary<string, ConversationSnapshot>> ReadAllAsync(IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var snapshots = new Dictionary<string, ConversationSnapshot>(StringComparer.Ordinal);
        var index = 0;
        foreach (var id in ids.Order(StringComparer.Ordinal))
        {
            snapshots[id] = await ReadAsync(id, index++, cancellationToken);
        }

        return snapshots;
    }

    public async Task<ConversationSnapshot> ReadAsync(string id, int preferred, CancellationToken cancellationToken)
    {
        var last = "not read";
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var endpoint = endpoints[(preferred + attempt) % endpoints.Count];
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(RequestTimeout);
            try
            {
                using var response = await http.GetAsync(new Uri(endpoint, "/conversations/" + Uri.EscapeDataString(id)), timeout.Token);
                var body = await response.Content.ReadAsStringAsync(timeout.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return new ConversationSnapshot(id, Parse(body), null);
                }

                last = string.Create(CultureInfo.InvariantCulture, $"{(int)response.StatusCode} {Load.ErrorBodies.Code(body)}");
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    return new ConversationSnapshot(id, [], last);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                last = Load.Failures.Describe(ex);
            }

            await Task.Delay(500, cancellationToken);
        }

        return new ConversationSnapshot(id, [], last);
    }

    private static List<StoredMessage> Parse(string body)
    {
        using var document = JsonDocument.Parse(body);
        var messages = new List<StoredMessage>();
        foreach (var message in document.RootElement.GetProperty("messages").EnumerateArray())
        {
            var requestId = message.TryGetProperty("request_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
            messages.Add(new StoredMessage(message.GetProperty("role").GetString()!, message.GetProperty("content").GetString()!, requestId));
        }

        return messages;
    }
}
