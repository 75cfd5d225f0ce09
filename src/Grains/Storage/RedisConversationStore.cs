using System.Globalization;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using Orleans.Serialization;
using StackExchange.Redis;

namespace AutoGlm.Orleans.Grains.Storage;

/// <summary>
/// Conversations in Redis, one conversation as four keys: a header hash (incarnation, version, a fixed-size
/// header record, the system prompt and default options, each written only when it changes), the messages as a
/// list that each turn appends to, and the idempotency record (request id → applied change, plus its order by
/// version for eviction). A change is one Lua script, checked against the planned version. Records are encoded
/// with the Orleans serializer (compact and version tolerant: fields are numbered). Keys expire after the idle TTL.
/// </summary>
public sealed class RedisConversationStore(IConnectionMultiplexer redis, Serializer serializer, RedisKeys keys, ConversationOptions options)
    : IConversationStore
{
    private const string IncarnationField = "inc";
    private const string VersionField = "v";
    private const string HeaderField = "hdr";
    private const string SystemField = "sys";
    private const string OptionsField = "opt";
    private const string AnnotationsField = "ann";

    private IDatabase Database => redis.GetDatabase();

    public async Task<StoredConversation?> LoadAsync(string conversationId, CancellationToken cancellationToken)
    {
        var result = await RedisCalls.RunAsync(
            () => Database.ScriptEvaluateAsync(RedisScripts.Load, keys.Conversation(conversationId)), cancellationToken);
        var parts = (RedisResult[])result!;
        if (parts.Length == 0)
        {
            return null;
        }

        var header = ((RedisResult[])parts[0]!).Chunk(2).ToDictionary(p => (string)p[0]!, p => (byte[])p[1]!, StringComparer.Ordinal);
        var messages = ((RedisResult[])parts[1]!).Select(m => Decode<ConversationMessage>((byte[])m!)).ToArray();
        var applied = ((RedisResult[])parts[2]!).Chunk(2)
            .Select(p => KeyValuePair.Create((string)p[0]!, Decode<AppliedChange>((byte[])p[1]!)))
            .ToArray();
        return new StoredConversation(
            System.Text.Encoding.UTF8.GetString(header[IncarnationField]),
            long.Parse(System.Text.Encoding.UTF8.GetString(header[VersionField]), CultureInfo.InvariantCulture),
            header.TryGetValue(HeaderField, out var h) ? Decode<ConversationHeader>(h) : new ConversationHeader(),
            header.TryGetValue(SystemField, out var s) ? Decode<SystemPromptRecord>(s) : SystemPromptRecord.None,
            header.TryGetValue(OptionsField, out var o) && o.Length > 0 ? serializer.Deserialize<GenerationOptions>(o) : null,
            messages,
            applied)
        {
            Annotations = header.TryGetValue(AnnotationsField, out var a) ? Decode<ConversationAnnotations>(a) : ConversationAnnotations.None,
        };
    }

    private T Decode<T>(byte[] bytes) where T : class =>
        serializer.Deserialize<T>(bytes) ?? throw new InvalidDataException($"a stored {typeof(T).Name} decoded to null");

    public async Task<CommitResult> CommitAsync(string conversationId, ConversationChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var fields = new List<(string Name, byte[] Value)> { (HeaderField, serializer.SerializeToArray(change.Header)) };
        if (change.SystemPrompt is { } system)
        {
            fields.Add((SystemField, serializer.SerializeToArray(system)));
        }

        if (change.DefaultOptionsChanged)
        {
            fields.Add((OptionsField, change.DefaultOptions is null ? [] : serializer.SerializeToArray(change.DefaultOptions)));
        }

        if (change.Annotations is { } annotations)
        {
            fields.Add((AnnotationsField, serializer.SerializeToArray(annotations)));
        }

        var args = new List<RedisValue>(10 + fields.Count * 2 + change.Appended.Count)
        {
            change.ExpectedIncarnation ?? string.Empty,
            change.ExpectedVersion,
            change.Incarnation,
            change.Version,
            change.ClearMessages ? 1 : 0,
            (long)options.IdleTtl.TotalMilliseconds,
            options.MaxRequestIds,
            change.RequestId,
            serializer.SerializeToArray(change.Applied),
            fields.Count,
        };
        foreach (var (name, value) in fields)
        {
            args.Add(name);
            args.Add(value);
        }

        foreach (var message in change.Appended)
        {
            args.Add(serializer.SerializeToArray(message));
        }

        var bytes = args.Sum(a => (long)a.Length());
        var result = await RedisCalls.RunAsync(
            () => Database.ScriptEvaluateAsync(RedisScripts.Commit, keys.Conversation(conversationId), [.. args]), CancellationToken.None);
        var outcome = (int)((RedisResult[])result!)[0] switch
        {
            1 => CommitOutcome.Committed,
            2 => CommitOutcome.AlreadyApplied,
            _ => CommitOutcome.Conflict,
        };
        return new CommitResult(outcome, bytes);
    }

    public async Task<bool> DeleteAsync(string conversationId, CancellationToken cancellationToken)
    {
        var removed = await RedisCalls.RunAsync(() => Database.KeyDeleteAsync(keys.Conversation(conversationId)), cancellationToken);
        return removed > 0;
    }
}
