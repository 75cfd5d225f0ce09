using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using AutoGlm.Orleans.Inference.Engine;

namespace AutoGlm.Orleans.Inference.KvCache;

/// <summary>
/// The restore tier: where the pool puts an evicted sequence's KV (as <see cref="KvSnapshot"/> bytes) so that its
/// next turn restores it instead of recomputing it. Host memory (byte arrays) or local disk (one file per sequence,
/// written by a background writer, renamed into place when whole); bounded by <see cref="CapacityBytes"/> of KV with
/// least-recently-spilled eviction of its own. An entry leaves when it is taken for a restore, its sequence is released
/// or the tier evicts it; its file is deleted then.
/// <para>
/// Locks: <see cref="TryBegin"/> and <see cref="Forget"/> run under the pool's lock and only touch memory (this
/// tier's lock nests inside the pool's, never the other way round); every file operation runs outside both: writes
/// on the writer, reads on the restoring caller's thread, deletions in <see cref="Sweep"/>.
/// </para>
/// </summary>
internal sealed class RestoreTier : IDisposable
{
    /// <summary>Prefix of an engine's folder inside <see cref="EngineOptions.RestoreTierPath"/>: engine-{process id}-{random}.</summary>
    internal const string FolderPrefix = "engine-";

    internal const string FileExtension = ".kv";

    /// <summary>
    /// Disk tier: the most spilled bytes waiting in memory for the writer (one larger spill always may). Small: the writer
    /// drains page-cache writes at GB/s, so only an eviction storm on a slow disk reaches it, and then skipping spills beats
    /// holding evicted KV in memory the budget no longer counts.
    /// </summary>
    internal const long MaxPendingWriteBytes = 16L << 20;

    private static readonly TimeSpan ExportWait = TimeSpan.FromSeconds(10);

    // An object, not a Lock: a turn waits on it (Monitor.Wait) for an export still running elsewhere.
    private readonly object _lock = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _lru = new();
    private readonly ConcurrentQueue<string> _doomed = new();
    private readonly Channel<Entry>? _writes;
    private readonly Task? _writer;
    private long _bytes;
    private long _stagedBytes;
    private long _pendingWriteBytes;
    private long _fileNumber;
    private long _spills, _skippedTooLarge, _skippedBacklog, _failures, _evictions;
    private long _hits, _restoredTokens, _missesAbsent, _missesMismatch, _missesRefused;
    private bool _disposed;

    private RestoreTier(RestoreTierKind kind, long capacityBytes, KvDescriptor descriptor, string? folder)
    {
        Kind = kind;
        CapacityBytes = capacityBytes;
        Descriptor = descriptor;
        Folder = folder;
        if (kind == RestoreTierKind.Disk)
        {
            _writes = Channel.CreateUnbounded<Entry>(new UnboundedChannelOptions { SingleReader = true });
            _writer = Task.Run(WriteLoop);
        }
    }

    /// <summary><see cref="RestoreTierKind.Host"/> or <see cref="RestoreTierKind.Disk"/>.</summary>
    public RestoreTierKind Kind { get; }

    public long CapacityBytes { get; }

    public KvDescriptor Descriptor { get; }

    /// <summary>Disk tier: this engine's folder of entry files.</summary>
    public string? Folder { get; }

    /// <summary>
    /// The tier <paramref name="options"/> ask for, or null when it is off. Auto means host memory when
    /// <paramref name="kvOnDevice"/> (the KV budget is device memory; host memory is the next tier), disk otherwise (the
    /// KV already lives in host memory). A disk tier gets a folder of its own; an unusable default folder turns the
    /// tier off (it is a cache), an unusable configured one throws.
    /// </summary>
    public static RestoreTier? Create(EngineOptions options, KvDescriptor descriptor, bool kvOnDevice)
    {
        ArgumentNullException.ThrowIfNull(options);
        var kind = options.RestoreTierKind == RestoreTierKind.Auto
            ? kvOnDevice ? RestoreTierKind.Host : RestoreTierKind.Disk
            : options.RestoreTierKind;
        if (kind == RestoreTierKind.Off || options.RestoreTierBytes == 0)
        {
            return null;
        }

        if (kind == RestoreTierKind.Host)
        {
            return new RestoreTier(kind, options.RestoreTierBytes, descriptor, null);
        }

        var root = options.RestoreTierPath ?? Path.Combine(Path.GetTempPath(), "autoglm-restore-tier");
        string folder;
        try
        {
            Directory.CreateDirectory(root);
            DeleteDeadEnginesFolders(root);
            folder = Path.Combine(root, string.Create(CultureInfo.InvariantCulture,
                $"{FolderPrefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}"));
            Directory.CreateDirectory(folder);
        }
        catch (Exception ex) when (options.RestoreTierPath is null && ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return new RestoreTier(kind, options.RestoreTierBytes, descriptor, folder);
    }

    /// <summary>
    /// Under the pool's lock, as an idle sequence is evicted: registers an entry for its <paramref name="tokens"/>
    /// (replacing an older one of the same sequence), evicting the tier's oldest entries for room, and returns it for
    /// <see cref="Complete"/> once its bytes are exported. Registered before the pool lets go of the sequence, so a turn
    /// that finds it evicted finds this entry too (and waits for the export). Null, nothing registered, when the spill is
    /// larger than the whole tier or (disk) the writer's backlog is full.
    /// </summary>
    public Entry? TryBegin(string id, int[] tokens)
    {
        var bytes = tokens.Length * Descriptor.BytesPerToken;
        lock (_lock)
        {
            if (_disposed)
            {
                return null;
            }

            if (_entries.TryGetValue(id, out var old))
            {
                RemoveLocked(old);
            }

            if (bytes > CapacityBytes || bytes > Array.MaxLength)
            {
                _skippedTooLarge++;
                return null;
            }

            if (Kind == RestoreTierKind.Disk && _pendingWriteBytes > 0 && _pendingWriteBytes + bytes > MaxPendingWriteBytes)
            {
                _skippedBacklog++;
                return null;
            }

            if (!MakeRoomLocked(bytes))
            {
                _skippedTooLarge++; // staged restores hold the rest of the bound
                return null;
            }

            var entry = new Entry(id, tokens, bytes);
            if (Kind == RestoreTierKind.Disk)
            {
                entry.Path = System.IO.Path.Combine(Folder!, string.Create(CultureInfo.InvariantCulture, $"{++_fileNumber:x16}{FileExtension}"));
                _pendingWriteBytes += bytes;
            }

            entry.Node = _lru.AddLast(entry);
            _entries.Add(id, entry);
            _bytes += bytes;
            return entry;
        }
    }

    /// <summary>
    /// A restore read at submission waits for admission to import it: its bytes count in the
    /// bound until <see cref="Unstage"/>, before any entry (the oldest go to make room). False when they cannot fit.
    /// </summary>
    public bool TryStage(long bytes)
    {
        lock (_lock)
        {
            if (_disposed || !MakeRoomLocked(bytes))
            {
                return false;
            }

            _stagedBytes += bytes;
            return true;
        }
    }

    public void Unstage(long bytes)
    {
        lock (_lock)
        {
            _stagedBytes -= bytes;
        }

        Sweep();
    }

    /// <summary>Evicts the oldest entries until <paramref name="bytes"/> more fit in the bound with the staged ones; false if they never can.</summary>
    private bool MakeRoomLocked(long bytes)
    {
        if (_stagedBytes + bytes > CapacityBytes)
        {
            return false;
        }

        while (_bytes + _stagedBytes + bytes > CapacityBytes && _lru.First is { } oldest)
        {
            RemoveLocked(oldest.Value);
            _evictions++;
        }

        return true;
    }

    /// <summary>The entry's bytes are exported: kept (host) or handed to the writer (disk).</summary>
    public void Complete(Entry entry, byte[] data)
    {
        lock (_lock)
        {
            entry.Data = data;
            entry.State = EntryState.Ready;
            Monitor.PulseAll(_lock);
            if (!entry.Removed || entry.Claimed)
            {
                _spills++;
            }

            if (Kind != RestoreTierKind.Disk)
            {
                return;
            }

            if (entry.Removed || !_writes!.Writer.TryWrite(entry))
            {
                // Taken (the taker has the bytes now), released or evicted before it was written: nothing to write.
                _pendingWriteBytes -= entry.Bytes;
                RemoveLocked(entry);
                return;
            }

            entry.Writing = true;
        }
    }

    /// <summary>The export failed: the entry goes, and the sequence recomputes.</summary>
    public void Abandon(Entry entry)
    {
        lock (_lock)
        {
            entry.State = EntryState.Failed;
            Monitor.PulseAll(_lock);
            _failures++;
            if (Kind == RestoreTierKind.Disk)
            {
                _pendingWriteBytes -= entry.Bytes;
            }

            RemoveLocked(entry);
        }
    }

    /// <summary>Under the pool's lock, as a sequence is released or refilled: its entry goes (its file in <see cref="Sweep"/>).</summary>
    public void Forget(string id)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(id, out var entry))
            {
                RemoveLocked(entry);
            }
        }
    }

    /// <summary>
    /// Takes the entry of <paramref name="id"/> out of the tier for a restore: null when there is none (or its export
    /// failed or did not finish in time). Waits for an export still running on another thread; while a disk write is
    /// in flight the bytes still in memory are used (the writer deletes the file when it is done). Outside every lock.
    /// </summary>
    public Claim? TryTake(string id)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(id, out var entry))
            {
                return null;
            }

            entry.Claimed = true;
            RemoveLocked(entry);
            var deadline = Stopwatch.GetTimestamp() + (long)(ExportWait.TotalSeconds * Stopwatch.Frequency);
            while (entry.State == EntryState.Exporting)
            {
                var left = deadline - Stopwatch.GetTimestamp();
                if (left <= 0)
                {
                    return null; // Complete sees it removed and drops the bytes
                }

                Monitor.Wait(_lock, TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
            }

            if (entry.State == EntryState.Failed)
            {
                return null;
            }

            if (entry.Data is { } data)
            {
                return new Claim(this, entry, data, null);
            }

            return entry.OnDisk ? new Claim(this, entry, null, entry.Path) : null;
        }
    }

    /// <summary>Deletes the files of entries that left the tier: called by the pool after it lets go of its lock.</summary>
    public void Sweep()
    {
        while (_doomed.TryDequeue(out var path))
        {
            TryDelete(path);
        }
    }

    internal void Hit(int tokens)
    {
        Interlocked.Increment(ref _hits);
        Interlocked.Add(ref _restoredTokens, tokens);
    }

    internal void Missed(RestoreMiss reason)
    {
        switch (reason)
        {
            case RestoreMiss.Absent:
                Interlocked.Increment(ref _missesAbsent);
                break;
            case RestoreMiss.Mismatch:
                Interlocked.Increment(ref _missesMismatch);
                break;
            default:
                Interlocked.Increment(ref _missesRefused);
                break;
        }
    }

    public RestoreTierStats Snapshot()
    {
        lock (_lock)
        {
            return new RestoreTierStats(Kind, CapacityBytes, _bytes + _stagedBytes, _entries.Count, _stagedBytes, _pendingWriteBytes, _spills, _skippedTooLarge,
                _skippedBacklog, _failures, _evictions, Interlocked.Read(ref _hits), Interlocked.Read(ref _restoredTokens),
                Interlocked.Read(ref _missesAbsent), Interlocked.Read(ref _missesMismatch), Interlocked.Read(ref _missesRefused), Folder);
        }
    }

    /// <summary>Out of the index and the bound; a written file is doomed unless a taker is about to read it.</summary>
    private void RemoveLocked(Entry entry)
    {
        if (entry.Removed)
        {
            return;
        }

        entry.Removed = true;
        if (_entries.TryGetValue(entry.Id, out var current) && ReferenceEquals(current, entry))
        {
            _entries.Remove(entry.Id);
        }

        _lru.Remove(entry.Node!);
        entry.Node = null;
        _bytes -= entry.Bytes;
        if (!entry.Claimed)
        {
            entry.Data = null;
            if (entry.OnDisk)
            {
                _doomed.Enqueue(entry.Path!);
            }
        }
    }

    private async Task WriteLoop()
    {
        await foreach (var entry in _writes!.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            byte[]? data;
            lock (_lock)
            {
                data = entry.Removed ? null : entry.Data;
            }

            var written = false;
            if (data is not null)
            {
                var temporary = entry.Path + ".tmp";
                try
                {
                    RestoreTierFile.Write(temporary, entry.Path!, entry.Id, entry.Tokens, Descriptor.BytesPerToken, data);
                    written = true;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    TryDelete(temporary);
                }
            }

            lock (_lock)
            {
                entry.Writing = false;
                _pendingWriteBytes -= entry.Bytes;
                if (written)
                {
                    entry.OnDisk = true;
                }

                if (entry.Removed)
                {
                    // Taken, released or evicted while it was being written: the file is nobody's.
                    if (written)
                    {
                        _doomed.Enqueue(entry.Path!);
                    }
                }
                else if (!written)
                {
                    _failures++;
                    RemoveLocked(entry);
                }
                else
                {
                    entry.Data = null; // on disk now: the memory goes
                }
            }

            Sweep();
        }
    }

    internal void Delete(string path) => TryDelete(path);

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover file is reclaimed with the folder when the engine is disposed.
        }
    }

    /// <summary>Deletes the folders of engines whose process is gone (a crash leaves its folder behind).</summary>
    private static void DeleteDeadEnginesFolders(string root)
    {
        foreach (var folder in Directory.EnumerateDirectories(root, FolderPrefix + "*"))
        {
            var name = System.IO.Path.GetFileName(folder);
            var dash = name.IndexOf('-', FolderPrefix.Length);
            if (dash < 0 || !int.TryParse(name.AsSpan(FolderPrefix.Length, dash - FolderPrefix.Length), NumberStyles.None,
                    CultureInfo.InvariantCulture, out var pid) || IsAlive(pid))
            {
                continue;
            }

            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Another engine starting at the same time deleted it, or it is not ours to delete.
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId)
        {
            return true;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var entry in _lru.ToArray())
            {
                RemoveLocked(entry);
            }
        }

        if (_writes is not null)
        {
            _writes.Writer.TryComplete();
            try
            {
                _writer!.Wait(TimeSpan.FromSeconds(10));
            }
            catch (AggregateException)
            {
                // The writer's failures are its entries' failures; the folder goes below all the same.
            }
        }

        Sweep();
        if (Folder is not null)
        {
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A later engine deletes it: this process is then gone.
            }
        }
    }

    internal enum EntryState
    {
        Exporting,
        Ready,
        Failed,
    }

    /// <summary>One sequence's spilled KV. Mutable state is guarded by the tier's lock.</summary>
    internal sealed class Entry(string id, int[] tokens, long bytes)
    {
        public string Id { get; } = id;

        public int[] Tokens { get; } = tokens;

        public long Bytes { get; } = bytes;

        public EntryState State { get; set; }

        /// <summary>Host: the bytes. Disk: the bytes until they are written.</summary>
        public byte[]? Data { get; set; }

        /// <summary>Disk: the entry's file.</summary>
        public string? Path { get; set; }

        public bool Writing { get; set; }

        public bool OnDisk { get; set; }

        /// <summary>Out of the index (taken, released, evicted or replaced).</summary>
        public bool Removed { get; set; }

        /// <summary>Taken for a restore: its bytes or its file are the taker's.</summary>
        public bool Claimed { get; set; }

        public LinkedListNode<Entry>? Node { get; set; }
    }

    /// <summary>A taken entry: its tokens, and its KV to read (from memory or its file); disposing deletes the file.</summary>
    internal sealed class Claim(RestoreTier tier, Entry entry, byte[]? data, string? path) : IDisposable
    {
        public IReadOnlyList<int> Tokens => entry.Tokens;

        public bool FromDisk => path is not null;

        /// <summary>The first <paramref name="count"/> tokens' KV in the snapshot's order (see <see cref="RestoreTierFile"/>).</summary>
        public byte[] Read(int count) => data is not null
            ? RestoreTierFile.Prefix(data, entry.Tokens.Length, tier.Descriptor, count)
            : RestoreTierFile.Read(path!, entry.Id, entry.Tokens, tier.Descriptor, count);

        public void Dispose()
        {
            if (path is not null)
            {
                tier.Delete(path);
            }
        }
    }
}

/// <summary>Why an evicted sequence's turn recomputed instead of restoring.</summary>
internal enum RestoreMiss
{
    /// <summary>The tier held nothing for it: the spill was skipped, evicted from the tier, or lost.</summary>
    Absent,

    /// <summary>The prompt shares no more with the entry than with the handle's own cache.</summary>
    Mismatch,

    /// <summary>The KV budget could not hold the restore, or reading it failed.</summary>
    Refused,
}
