using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;
using AutoGlm.Orleans.Inference.Models;
using AutoGlm.Orleans.Inference.Runtime;
using AutoGlm.Orleans.Inference.Sampling;
using AutoGlm.Orleans.Inference.Text;
using AutoGlm.Orleans.Inference.Scheduling;
using AutoGlm.Orleans.Inference.Tokenization;
using Microsoft.ML.Tokenizers;

namespace AutoGlm.Orleans.Inference.Engine;

/// <summary>
/// The engine of one silo: the model, its tokenizer and chat template, the KV pool and the continuous-batching
/// scheduler. Thread-safe; submissions return at once and tokens stream from the scheduler's thread.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    private readonly ModelRunner _runner;
    private readonly IKvStrategy _kv;
    private readonly StepScheduler _scheduler;
    private readonly EngineMetrics _metrics;
    private readonly RestoreTier? _tier;
    private readonly TierRestorer? _restorer;
    private readonly int[] _endOfTurn;
    private int _disposed;

    private InferenceEngine(EngineOptions options, IMeterFactory? meterFactory)
    {
        options.Validate();
        Options = options;
        Manifest = ModelFolder.Load(options.ModelPath).WithVariant(options.ModelVariant);
        Tokenizer = TokenizerLoader.Load(Manifest.Tokenizer, options.ModelPath);
        ChatTemplate = ChatTemplates.Get(Manifest.ChatTemplate);
        var threads = options.IntraOpThreads > 0 ? options.IntraOpThreads : Environment.ProcessorCount;
        _runner = new ModelRunner(options.ModelPath, Manifest, options.Device, threads, options.IntraOpSpinning, options.IntraOpSpinDuration);
        var budget = options.KvBudgetBytes > 0
            ? options.KvBudgetBytes
            : (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * options.KvBudgetFraction);
        Pool = new KvCachePool(budget, Manifest.KvBytesPerToken);
        _endOfTurn = Manifest.EndOfTurnTokenIds.Count > 0
            ? [.. Manifest.EndOfTurnTokenIds]
            : Manifest.EosTokenId is { } eos ? [eos] : [];
        // Made here, not in the scheduler, because prefix copies (TryCopyKvPrefix) need it off the scheduler's thread.
        _kv = Manifest.PastPresentShareBuffer
            ? new SharedBufferKvStrategy(_runner, _runner.CreateKvMemory(), Pool, options.MaxBatchSize)
            : new ConcatKvStrategy(_runner, Pool);
        Pool.UseTrim(_kv.Trim);
        KvDescriptor = KvDescriptor.Of(Manifest, Manifest.KvScalesIdentity(options.ModelPath));
        // Host memory is the next tier when the KV lives on the device; disk when it lives in host memory already.
        _tier = RestoreTier.Create(options, KvDescriptor, kvOnDevice: _kv.Traffic.Device != "Cpu");
        _metrics = new EngineMetrics(Gauges, meterFactory, GetRestoreTierStats);
        if (_tier is not null)
        {
            Pool.UseRestoreTier(_tier, _kv.Export);
            _restorer = new TierRestorer(Pool, _tier, _kv, _metrics);
        }

        _scheduler = new StepScheduler(_kv, Pool, options, _metrics);
    }

    public static InferenceEngine Create(EngineOptions options, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new InferenceEngine(options, meterFactory);
    }

    public EngineOptions Options { get; }

    public ModelManifest Manifest { get; }

    public Tokenizer Tokenizer { get; }

    public IChatTemplate ChatTemplate { get; }

    public KvCachePool Pool { get; }

    public ExecutionDevice Device => _runner.Device;

    public EngineMetrics Metrics => _metrics;

    /// <summary>The model and KV geometry of this engine's snapshots; <see cref="TryImportKv"/> takes only equal ones.</summary>
    public KvDescriptor KvDescriptor { get; }

    /// <summary>The KV handle of a sequence: the live one when this engine still holds it, a new empty one otherwise.</summary>
    public KvCacheHandle GetOrCreateHandle(string sequenceId) => Pool.GetOrCreate(sequenceId);

    /// <summary>
    /// Creates the sequence <paramref name="targetId"/> with an exact copy of the first <paramref name="tokens"/>
    /// cached tokens of <paramref name="sourceId"/> (a forked conversation): their ids and every layer's keys and
    /// values, byte for byte, in the memory the layout keeps idle KV in (host tensors for the Concat layout; a
    /// block on the model's device for the shared-buffer layout, copied device to device on a GPU). The copy is
    /// accounted like any cached tokens and the new handle is idle, evictable; a generation on it whose prompt
    /// starts with those tokens reuses them as if it had computed them itself. Runs on the calling thread, in
    /// time linear in the copied bytes; meanwhile a <see cref="Submit"/> on the source fails with
    /// <see cref="HandleBusyException"/>. Returns false, leaving no target and the pool's bytes as they were,
    /// when the source does not exist, is in a generation (queued or running) or caches fewer than
    /// <paramref name="tokens"/> tokens, the target exists already, <paramref name="tokens"/> &lt;= 0, or the KV
    /// budget cannot hold the copy even after evicting idle sequences.
    /// </summary>
    public bool TryCopyKvPrefix(string sourceId, string targetId, int tokens)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourceId);
        ArgumentException.ThrowIfNullOrEmpty(targetId);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Pool.TryCopyPrefix(sourceId, targetId, tokens, _kv.CopyPrefix);
    }

    /// <summary>
    /// An exact copy of the idle sequence <paramref name="sequenceId"/>'s cache as bytes (to move the conversation to
    /// another engine, <see cref="TryImportKv"/>): its token ids and every layer's keys and values for them, in
    /// <see cref="KvSnapshot"/>'s layout-independent order, with no conversion; device to host when the KV is on a
    /// GPU. Runs on the calling thread in time linear in the bytes, into one array allocated once; meanwhile the
    /// sequence is held as <see cref="TryCopyKvPrefix"/> holds its source (a <see cref="Submit"/> on it fails with
    /// <see cref="HandleBusyException"/>), and it stays cached and idle afterwards. Null when the sequence does not
    /// exist, is in a generation (queued or running) or caches nothing. Throws <see cref="NotSupportedException"/>
    /// when the cache is larger than one array can be (<see cref="Array.MaxLength"/> bytes).
    /// </summary>
    public KvSnapshot? ExportKv(string sequenceId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sequenceId);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Pool.TryExport(sequenceId, handle =>
        {
            var tokens = handle.CachedTokenCount;
            var bytes = tokens * KvDescriptor.BytesPerToken;
            if (bytes > Array.MaxLength)
            {
                throw new NotSupportedException(
                    $"sequence {sequenceId} caches {tokens} tokens: {bytes} bytes of KV, more than one array holds ({Array.MaxLength})");
            }

            // Every byte is written below: zeroing the array first would only cost another pass over it.
            var data = GC.AllocateUninitializedArray<byte>((int)bytes);
            _kv.Export(handle, tokens, data);
            return new KvSnapshot(KvDescriptor, [.. handle.Tokens], data);
        });
    }

    /// <summary>
    /// Makes the sequence <paramref name="sequenceId"/> hold exactly <paramref name="snapshot"/>'s cache, in this
    /// engine's KV layout whichever layout exported it (host to device on a GPU): created when no handle has that
    /// id; an existing handle is replaced only when it is idle and caches fewer tokens than the snapshot (an empty
    /// handle a caller made with <see cref="GetOrCreateHandle"/> is filled; a handle that caches as much or more is
    /// kept: it is this engine's own, likelier newer, state). A replaced handle stays the same object, its old cache
    /// dropped. The imported cache is accounted like any cached tokens and idle (evictable); a generation whose
    /// prompt starts with its tokens reuses them as if this engine had computed them, and generates what the
    /// exporter would have. Runs on the calling thread in time linear in the bytes, holding an existing handle
    /// meanwhile. Returns false, creating and changing nothing, when the descriptor differs from
    /// <see cref="KvDescriptor"/>, the data is not tokens × bytes per token long, the snapshot covers no tokens or as many
    /// as the context window or more, a token id is outside the vocabulary, the handle is in a generation or caches as many
    /// tokens or more, or the KV budget cannot hold the snapshot even after evicting idle sequences.
    /// </summary>
    public bool TryImportKv(string sequenceId, KvSnapshot snapshot)
    {
        ArgumentException.ThrowIfNullOrEmpty(sequenceId);
        ArgumentNullException.ThrowIfNull(snapshot);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var tokens = snapshot.TokenSpan;
        if (snapshot.Descriptor != KvDescriptor || tokens.IsEmpty || tokens.Length >= Manifest.ContextLength
            || snapshot.Data.Length != snapshot.ExpectedBytes)
        {
            return false;
        }

        foreach (var id in tokens)
        {
            if ((uint)id >= (uint)Manifest.VocabSize)
            {
                return false;
            }
        }

        var count = tokens.Length;
        var data = snapshot.Data;
        return Pool.TryImport(sequenceId, tokens, staging => _kv.Import(staging, count, data.Span));
    }

    /// <summary>
    /// Queues a generation and returns its stream at once. Throws <see cref="InvalidGenerationRequestException"/>
    /// for a request that cannot be served, <see cref="HandleBusyException"/> when the handle is in another
    /// generation, <see cref="EngineOverloadedException"/> when the queue is full. Cancelling
    /// <paramref name="cancellationToken"/> ends the generation at the next step; the handle keeps its KV.
    /// </summary>
    public ChannelReader<GenerationChunk> Submit(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var prompt = Validate(request);
        var handle = request.Handle;
        if (!Pool.TryActivate(handle))
        {
            throw new HandleBusyException(handle.Id, handle.IsReleased ? "was released" : "is already generating");
        }

        ActiveRequest active;
        StagedRestore? staged = null;
        try
        {
            // An evicted sequence's KV is read back from the restore tier here, on the caller's thread, before it is
            // queued; admission imports it: the scheduler's thread never waits for a file (TierRestorer says why).
            staged = _restorer?.Restore(handle, prompt);
            var stops = request.StopTokenIds is { } s ? [.. s] : _endOfTurn;
            active = new ActiveRequest(request, prompt, stops,
                new TokenSampler(request.Sampling, Manifest.VocabSize),
                new StreamingDetokenizer(Tokenizer),
                request.Sampling.StopSequences is { Count: > 0 } stopSequences ? new StopSequenceMatcher(stopSequences) : null,
                cancellationToken)
            {
                Staged = staged,
            };
            _scheduler.Enqueue(active);
        }
        catch
        {
            staged?.Dispose();
            Pool.Deactivate(handle);
            throw;
        }

        return active.Output.Reader;
    }

    /// <summary><see cref="Submit"/> as an async stream.</summary>
    public async IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var reader = Submit(request, cancellationToken);
        await foreach (var chunk in reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return chunk;
        }
    }

    /// <summary>Renders messages with the model's chat template (generation prompt appended) and tokenizes them.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages) =>
        [.. Tokenizer.EncodeToIds(ChatTemplate.Render(messages, addGenerationPrompt: true))];

    public EngineStats GetStats()
    {
        var traffic = _scheduler.KvTraffic;
        return new(_scheduler.Waiting, _scheduler.Running, _scheduler.Steps, _scheduler.Repacks, Pool.Snapshot())
        {
            DecodeForwardSeconds = (double)_scheduler.DecodeForwardTicks / System.Diagnostics.Stopwatch.Frequency,
            DecodeEmitSeconds = (double)_scheduler.DecodeEmitTicks / System.Diagnostics.Stopwatch.Frequency,
            DecodedTokens = _scheduler.DecodedTokens,
            SchedulerAllocatedBytes = _scheduler.AllocatedBytes,
            KvDevice = traffic.Device,
            KvBytesCopied = traffic.BytesCopied,
            KvBytesAllocated = traffic.BytesAllocated,
            SharedKvBuffers = Manifest.PastPresentShareBuffer,
            RestoreTier = GetRestoreTierStats(),
        };
    }

    /// <summary>The restore tier's figures (<see cref="RestoreTierStats.Off"/> when it is off).</summary>
    public RestoreTierStats GetRestoreTierStats() => _tier?.Snapshot() ?? RestoreTierStats.Off;

    private int[] Validate(GenerationRequest request)
    {
        try
        {
            request.Sampling.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new InvalidGenerationRequestException(ex.Message);
        }

        var prompt = request.PromptTokenIds;
        if (prompt is null || prompt.Count == 0)
        {
            throw new InvalidGenerationRequestException("the prompt is empty");
        }

        var context = Manifest.ContextLength;
        if (prompt.Count >= context)
        {
            throw new InvalidGenerationRequestException(
                $"the prompt has {prompt.Count} tokens; the model's context window is {context} tokens");
        }

        if (prompt.Count + request.Sampling.MaxNewTokens > context)
        {
            throw new InvalidGenerationRequestException(
                $"prompt ({prompt.Count} tokens) + max new tokens ({request.Sampling.MaxNewTokens}) exceed the context window of {context} tokens");
        }

        var ids = new int[prompt.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            var id = prompt[i];
            if ((uint)id >= (uint)Manifest.VocabSize)
            {
                throw new InvalidGenerationRequestException($"prompt token {i} is {id}, outside the vocabulary (0..{Manifest.VocabSize - 1})");
            }

            ids[i] = id;
        }

        return ids;
    }

    private EngineGauges Gauges()
    {
        var kv = Pool.Snapshot();
        return new EngineGauges(kv.UsedBytes, kv.BudgetBytes, kv.Sequences, kv.Evictions, _scheduler.Running, _scheduler.Waiting);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _scheduler.Dispose();
        // After the scheduler (no more evictions from it); its files and folder go with it.
        _tier?.Dispose();
        _runner.Dispose();
        _metrics.Dispose();
    }
}
