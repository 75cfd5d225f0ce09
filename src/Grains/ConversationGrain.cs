using System.Runtime.CompilerServices;
using AutoGlm.Orleans.Abstractions;
using AutoGlm.Orleans.Grains.Conversations;
using AutoGlm.Orleans.Grains.Moves;
using AutoGlm.Orleans.Grains.Storage;
using AutoGlm.Orleans.Grains.Turns;
using AutoGlm.Orleans.Inference.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AutoGlm.Orleans.Grains;

/// <summary>
/// One conversation. Owns: its <see cref="ConversationLog"/> (loaded from the <see cref="IConversationStore"/>)
/// and, through its silo's engine, its KV cache; placed by <see cref="KvAwarePlacement"/> next to that cache.
/// May call: the store, its silo's <see cref="ISiloEngineGrain"/>, and on delete every silo's engine grain (KV parked there).
/// A turn: check and plan it (<see cref="TurnPlanner"/>) → a <see cref="TurnRun"/> streams the reply from the
/// engine to every reader → one commit appends it. A failure halfway leaves nothing: the log changes only after
/// the store accepted the change, and a write whose outcome is unknown makes the next call reload first.
/// One change at a time (<see cref="ConversationGate"/>); a retried request id replays or attaches.
/// </summary>
[KvAwarePlacement]
public sealed partial class ConversationGrain : Grain, IConversationGrain
{
    private const int MaxRequestIdLength = 256;

    private readonly IConversationStore _store;
    private readonly InferenceEngine _engine;
    private readonly PromptBuilder _prompts;
    private readonly ILocalSiloDetails _localSilo;
    private readonly IClusterMembershipService _membership;
    private readonly LocalConversations _local;
    private readonly SiloDrain _drain;
    private readonly KvMover _mover;
    private readonly Prefixes.SharedPrefixes _prefixes;
    private readonly Tenancy.ApiKeyStore _keys;
    private readonly ConversationOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ConversationGrain> _logger;
    private readonly ConversationGate _gate = new();
    private ConversationLog _log;
    private bool _stale = true;
    private Task? _loading;
    private bool _leaving;
    private Task? _moving;

    public ConversationGrain(IConversationStore store, InferenceEngine engine, ILocalSiloDetails localSilo, IClusterMembershipService membership,
        LocalConversations local, SiloDrain drain, KvMover mover, Prefixes.SharedPrefixes prefixes, Tenancy.ApiKeyStore keys,
        IOptions<ConversationOptions> options, TimeProvider time, ILogger<ConversationGrain> logger)
    {
        _mover = mover;
        _prefixes = prefixes;
        _keys = keys;
        _store = store;
        _engine = engine;
        _prompts = PromptBuilder.For(engine);
        _localSilo = localSilo;
        _membership = membership;
        _local = local;
        _drain = drain;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _log = ConversationLog.Empty(_options.MaxRequestIds);
    }

    private string Id => this.GetPrimaryKeyString();

    /// <summary>The id its tenant knows (errors name this, never the tenant-qualified key).</summary>
    private string Name => ConversationKeys.IdOf(Id);

    private string SiloName => _localSilo.SiloAddress.ToString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _local.Add(Id);
        return base.OnActivateAsync(cancellationToken);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // The KV handle stays parked in the pool, evictable, under the conversation's id: a re-activation on this
        // silo (placement prefers it) finds it. Only Delete and idle expiry release it.
        _local.Remove(Id);
        _gate.Turn?.Interrupt(new TurnInterruptedException($"conversation '{Name}' left silo {SiloName} ({reason.ReasonCode}) during the turn; nothing was stored, retry with the same request id"));
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    public async IAsyncEnumerable<ReplyChunk> SendStreaming(TurnRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateRequestId(request.RequestId);
        ConversationReply? replay;
        TurnReader? reader;
        try
        {
            (replay, reader) = await StartOrAttachAsync(request, cancellationToken);
        }
        catch (ConversationException)
        {
            if (!_log.Exists && _gate.IsIdle)
            {
                // A refused first turn leaves nothing: not even the KV a fork's parent shared for it.
                ReleaseLocalKv();
            }

            LeaveIfNothingStored();
            throw;
        }

        if (replay is not null)
        {
            yield return new ReplyChunk
            {
                Text = replay.Text, TokenIds = replay.TokenIds, FinishReason = replay.FinishReason, Usage = replay.Usage, Replayed = true, Silo = replay.Silo,
            };
            yield break;
        }

        using (reader)
        {
            while (await reader!.NextAsync(cancellationToken) is { } chunk)
            {
                yield return chunk;
            }
        }

        if (reader.End is not { IsCompleted: true })
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw reader.End?.CancelReason ?? new TurnInterruptedException(
                $"conversation '{Name}': request '{request.RequestId}' was cancelled (no reader pulled its reply for {_options.TurnLease}); nothing was stored, retry with the same request id");
        }
    }

    public async Task<ConversationReply> Send(TurnRequest request, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        await foreach (var chunk in SendStreaming(request, cancellationToken))
        {
            text.Append(chunk.Text);
            if (chunk.TokenIds is { } chunkIds)
            {
                ids.AddRange(chunkIds);
            }

            if (chunk.IsFinal)
            {
                return new ConversationReply
                {
                    RequestId = request.RequestId, Text = text.ToString(), TokenIds = ids, FinishReason = chunk.FinishReason!.Value,
                    Usage = chunk.Usage ?? new TurnUsage(), Replayed = chunk.Replayed, Silo = chunk.Silo,
                };
            }
        }

        throw new ConversationException($"conversation '{Name}': the reply ended without a finish reason");
    }

    public async Task<IReadOnlyList<ConversationMessage>> GetHistory()
    {
        var log = await LogAsync(CancellationToken.None);
        LeaveIfNothingStored();
        return log.ToHistory();
    }

    public async Task<ConversationStatus> GetStatus()
    {
        var log = await LogAsync(CancellationToken.None);
        LeaveIfNothingStored();
        var cached = _engine.Pool.TryGet(Id, out var handle) && handle is not null ? handle.CachedTokenCount : 0;
        return new ConversationStatus
        {
            ConversationId = Id,
            Silo = SiloName,
            Messages = log.Messages.Count + (log.SystemPrompt.Text is null ? 0 : 1),
            HistoryTokens = log.HistoryTokens,
            CachedTokens = cached,
            KvBytes = cached * _engine.Manifest.KvBytesPerToken,
            IsGenerating = _gate.Turn is not null,
            SystemPrompt = log.SystemPrompt.Text,
            DefaultOptions = log.DefaultOptions,
            ContextLength = _engine.Manifest.ContextLength,
            Exists = log.Exists,
            Version = log.Version,
            Turns = log.Header.Turns,
            Metadata = log.Annotations.Metadata,
            TruncatedTokens = log.TruncatedTokens,
            CreatedAt = log.Header.CreatedAt,
        };
    }

    public async Task Create(string requestId, string? systemPrompt)
    {
        ValidateRequestId(requestId);
        var fingerprint = RequestFingerprint.Of(ConversationLog.CreateOperation, systemPrompt);
        var log = await LogAsync(CancellationToken.None);
        if (IsApplied(log, requestId, ConversationLog.CreateOperation, fingerprint))
        {
            return;
        }

        if (log.Exists)
        {
            throw new ConversationExistsException($"conversation '{Name}' exists already");
        }

        var system = SystemPrompt(systemPrompt);
        await ChangeAsync(requestId, ConversationLog.CreateOperation, fingerprint, l => l.PlanCreate(requestId, fingerprint, system, _time.GetUtcNow()));
    }

    public Task SetSystemPrompt(string requestId, string? systemPrompt)
    {
        var fingerprint = RequestFingerprint.Of(ConversationLog.SystemPromptOperation, systemPrompt);
        return ChangeAsync(requestId, ConversationLog.SystemPromptOperation, fingerprint,
            l => l.PlanSystemPrompt(requestId, fingerprint, SystemPrompt(systemPrompt), _time.GetUtcNow()));
    }

    public Task SetDefaultOptions(string requestId, GenerationOptions? options)
    {
        var fingerprint = RequestFingerprint.Of(ConversationLog.DefaultOptionsOperation, null, options);
        return ChangeAsync(requestId, ConversationLog.DefaultOptionsOperation, fingerprint, l =>
        {
            options?.Validate();
            return l.PlanDefaultOptions(requestId, fingerprint, options, _time.GetUtcNow());
        });
    }

    public Task Reset(string requestId)
    {
        var fingerprint = RequestFingerprint.Of(ConversationLog.ResetOperation);
        return ChangeAsync(requestId, ConversationLog.ResetOperation, fingerprint, l => l.PlanReset(requestId, fingerprint, _time.GetUtcNow()));
    }

    public Task ImportHistory(string requestId, IReadOnlyList<ConversationMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var fingerprint = RequestFingerprint.Of(ConversationLog.ImportOperation, messages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return ChangeAsync(requestId, ConversationLog.ImportOperation, fingerprint, l =>
        {
            if (l.Messages.Count > 0)
            {
                throw new InvalidConversationRequestException($"conversation '{Name}' has messages already; only an empty one can be seeded");
            }

            var now = _time.GetUtcNow();
            var seed = HistoryImport.Build(_prompts, messages, l.SystemPrompt, requestId, now, reserve: 1);
            return l.PlanImport(requestId, fingerprint, seed.SystemPrompt, seed.Messages, now);
        });
    }

    public async Task Delete(string requestId)
    {
        ValidateRequestId(requestId);
        var log = await LogAsync(CancellationToken.None);
        using (_gate.BeginChange(Name, "delete"))
        {
            bool existed;
            try
            {
                existed = await _store.DeleteAsync(Id, CancellationToken.None);
            }
            catch (StorageUnavailableException)
            {
                _stale = true;
                throw;
            }

            _log = ConversationLog.Empty(_options.MaxRequestIds);
            _stale = false;
            if (!existed && !log.Exists)
            {
                DeactivateOnIdle();
                throw new ConversationNotFoundException($"conversation '{Name}' does not exist");
            }

            await ReleaseKvEverywhereAsync();
        }

        DeactivateOnIdle();
    }

    public Task Leave()
    {
        _leaving = true;
        return _gate.IsIdle ? MoveAndLeaveAsync() : Task.CompletedTask;
    }

    /// <summary>
    /// Moves the activation off this silo once idle. Migration, not deactivation: placement picks the new silo (skipping
    /// draining ones) and Orleans forwards calls that still arrive here, where a plain deactivation would let the next
    /// call re-create the activation on this same silo from a caller's cached address.
    /// </summary>
    private void LeaveSilo()
    {
        _leaving = true;
        MigrateOnIdle();
    }

    /// <summary>
    /// Whose KV this turn may share: the conversation's tenant, and the cache salt of the key it came with (a salted
    /// key's conversations share nothing with the same tenant's unsalted ones).
    /// </summary>
    private string CacheScope() =>
        _keys.TryFind(TenantCredentials.Current, out var entry)
        && string.Equals(entry.Tenant, ConversationKeys.TenantOf(Id), StringComparison.Ordinal)
            ? entry.CacheScope
            : ConversationKeys.TenantOf(Id);

    private SystemPromptRecord SystemPrompt(string? text)
    {
        if (text is null)
        {
            return SystemPromptRecord.None;
        }

        var segment = _prompts.Segment(null, new Inference.Chat.ChatMessage(Inference.Chat.ChatRole.System, text));
        return _prompts.TryEncode(segment, _engine.Manifest.ContextLength - 1, out var ids)
            ? new SystemPromptRecord { Text = text, TokenIds = ids }
            : throw new InvalidConversationRequestException(
                $"the system prompt does not fit the model's context window of {_engine.Manifest.ContextLength} tokens");
    }

    private void LeaveIfNothingStored()
    {
        // A call about a conversation that does not exist keeps nothing alive behind it.
        if (!_log.Exists && _gate.IsIdle)
        {
            DeactivateOnIdle();
        }
    }

    private static void ValidateRequestId(string requestId)
    {
        if (string.IsNullOrWhiteSpace(requestId))
        {
            throw new InvalidConversationRequestException("a request id is required (the idempotency key of the change)");
        }

        if (requestId.Length > MaxRequestIdLength)
        {
            throw new InvalidConversationRequestException($"the request id is longer than {MaxRequestIdLength} characters");
        }
    }
}
