using System.Diagnostics.Metrics;
using AutoGlm.Orleans.Inference.Chat;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Tests.Support;

namespace AutoGlm.Orleans.Inference.Tests.Engine;

/// <summary>
/// The restore tier: with a small KV budget, conversation A computes its history, B and C push it out, and A's next
/// turn restores its KV from the tier (host memory or disk) instead of recomputing it: reported as cached, byte-exact,
/// and the same greedy tokens as an engine that never evicted. A tier too small skips the spill (A recomputes, a
/// counted miss); releasing deletes the entry and its file; the tier holds its bound, oldest entries going first.
/// </summary>
public sealed class RestoreTierTests
{
    private const int Budget = 150; // tokens: room for two of the conversations below (~55 tokens each), not three
    private const int NewTokens = 40;
    private const string FollowUp = "<|endoftext|><|user|>\nAnd another one?\n<|assistant|>\n";

    private static int[] Prompt(InferenceEngine engine, string text) => engine.EncodeChat([new(ChatRole.User, text)]);

    private static int[] NextTurn(InferenceEngine engine, int[] prompt, Generation reply) =>
        [.. prompt, .. reply.Tokens, .. engine.Tokenizer.EncodeToIds(FollowUp)];

    [Theory]
    [InlineData(KvLayouts.Shared, RestoreTierKind.Disk)]
    [InlineData(KvLayouts.Optimum, RestoreTierKind.Disk)]
    [InlineData(KvLayouts.Shared, RestoreTierKind.Host)]
    [InlineData(KvLayouts.Optimum, RestoreTierKind.Host)]
    public async Task An_evicted_conversation_restores_its_history_from_the_tier_and_continues_exactly(string layout, RestoreTierKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        using var engine = RestoreTierSetup.Create(layout, kind, folder, Budget);
        using var reference = EngineFactory.Create(layout, o => o with { RestoreTierKind = RestoreTierKind.Off });
        var promptA = Prompt(engine, "Tell me a fortune.");

        var first = await engine.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        var a = engine.GetOrCreateHandle("a");
        var history = a.Tokens.ToArray();
        var historyKv = KvReader.HostBytes(a, history.Length);
        await engine.GenerateAsync("b", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
        Assert.Equal(0, engine.Pool.Evictions);
        await engine.GenerateAsync("c", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);

        Assert.Equal(1, a.Evictions); // pushed out: the pool dropped it, the tier holds it
        Assert.Equal(0, a.CachedTokenCount);
        var spilled = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(kind, spilled.Kind);
        Assert.Equal(1, spilled.Spills);
        Assert.Equal(1, spilled.Entries);
        Assert.Equal(history.Length * RestoreTierSetup.BytesPerToken, spilled.BytesHeld);
        Assert.Equal(kind == RestoreTierKind.Disk ? 1 : 0, RestoreTierSetup.Files(spilled).Length);

        var turn2 = NextTurn(engine, promptA, first);
        var second = await engine.GenerateAsync("a", turn2, EngineFactory.Greedy(NewTokens), [], ct);

        var expectedFirst = await reference.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        var expected = await reference.GenerateAsync("a", turn2, EngineFactory.Greedy(NewTokens), [], ct);
        Assert.Equal(expectedFirst.Tokens, first.Tokens);
        Assert.Equal(history.Length, expected.Usage.CachedTokens);
        Assert.Equal(history.Length, second.Usage.CachedTokens); // the whole history, restored: nothing recomputed
        Assert.Equal(history.Length, second.Usage.RestoredTokens);
        Assert.Equal(turn2.Length - history.Length, second.Usage.ComputedTokens);
        Assert.Equal(0, expected.Usage.RestoredTokens);
        Assert.Equal(expected.Tokens, second.Tokens);
        Assert.Equal(historyKv, KvReader.HostBytes(a, history.Length)); // the restored KV is the evicted KV, byte for byte

        var after = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(1, after.Hits);
        Assert.Equal(history.Length, after.RestoredTokens);
        Assert.Equal(0, after.Misses);
        // A's restore and its turn pushed B and C out in turn: the tier holds them now, A's entry (and file) is gone.
        Assert.Equal(3, engine.Pool.Evictions);
        Assert.Equal(2, after.Entries);
        Assert.Equal(kind == RestoreTierKind.Disk ? 2 : 0, RestoreTierSetup.Files(after).Length);
        Assert.True(engine.Pool.UsedBytes <= engine.Pool.BudgetBytes);
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task A_tier_too_small_skips_the_spill_and_the_next_turn_recomputes_as_a_counted_miss(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        using var engine = RestoreTierSetup.Create(layout, RestoreTierKind.Disk, folder, Budget, tierBytes: 20 * RestoreTierSetup.BytesPerToken);
        using var reference = EngineFactory.Create(layout, o => o with { RestoreTierKind = RestoreTierKind.Off });
        var promptA = Prompt(engine, "Tell me a fortune.");
        var first = await engine.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("b", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("c", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);
        Assert.Equal(1, engine.GetOrCreateHandle("a").Evictions);

        var skipped = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(1, skipped.SkippedTooLarge);
        Assert.Equal(0, skipped.Spills);
        Assert.Equal(0, skipped.Entries);
        Assert.Equal(0, skipped.BytesHeld);
        Assert.Empty(RestoreTierSetup.Files(skipped));

        var turn2 = NextTurn(engine, promptA, first);
        var second = await engine.GenerateAsync("a", turn2, EngineFactory.Greedy(NewTokens), [], ct);
        await reference.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        var expected = await reference.GenerateAsync("a", turn2, EngineFactory.Greedy(NewTokens), [], ct);

        Assert.Equal(0, second.Usage.CachedTokens);
        Assert.Equal(0, second.Usage.RestoredTokens);
        Assert.Equal(turn2.Length, second.Usage.ComputedTokens);
        Assert.Equal(expected.Tokens, second.Tokens);
        var after = engine.GetRestoreTierStats();
        Assert.Equal(1, after.MissesAbsent);
        Assert.Equal(1, after.Misses);
        Assert.Equal(0, after.Hits);
    }

    [Theory]
    [InlineData(KvLayouts.Shared, RestoreTierKind.Disk)]
    [InlineData(KvLayouts.Optimum, RestoreTierKind.Disk)]
    public async Task A_restore_waits_staged_while_running_generations_hold_the_budget_and_is_imported_at_admission(string layout, RestoreTierKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        using var engine = RestoreTierSetup.Create(layout, kind, folder, Budget);
        using var reference = EngineFactory.Create(layout, o => o with { RestoreTierKind = RestoreTierKind.Off });
        var promptA = Prompt(engine, "Tell me a fortune.");
        var first = await engine.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        var history = engine.GetOrCreateHandle("a").CachedTokenCount;
        await engine.GenerateAsync("b", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("c", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);
        Assert.Equal(0, engine.GetOrCreateHandle("a").CachedTokenCount);
        await RestoreTierSetup.SettledAsync(engine, ct);

        // D runs and holds most of the budget: A's history cannot come back into it until D is done.
        var promptD = Prompt(engine, "Hello!");
        var maxD = Budget - history - promptD.Length + 20;
        var d = engine.Submit(new GenerationRequest(engine.GetOrCreateHandle("d"), promptD, EngineFactory.Greedy(maxD)) { StopTokenIds = [] }, ct);
        await d.ReadAsync(ct);
        var turn2 = NextTurn(engine, promptA, first);
        var a = engine.Submit(new GenerationRequest(engine.GetOrCreateHandle("a"), turn2, EngineFactory.Greedy(NewTokens)) { StopTokenIds = [] }, ct);

        var staged = engine.GetRestoreTierStats();
        Assert.Equal(history * RestoreTierSetup.BytesPerToken, staged.StagedBytes); // read, waiting for admission
        Assert.Equal(0, staged.Hits);
        Assert.Equal(0, engine.GetOrCreateHandle("a").CachedTokenCount);
        var dDone = await EngineFactory.CollectAsync(d, ct);
        var second = await EngineFactory.CollectAsync(a, ct);

        await reference.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        var expected = await reference.GenerateAsync("a", turn2, EngineFactory.Greedy(NewTokens), [], ct);
        Assert.Equal(maxD - 1, dDone.Tokens.Length);
        Assert.Equal(history, second.Usage.CachedTokens);
        Assert.Equal(history, second.Usage.RestoredTokens);
        Assert.Equal(expected.Tokens, second.Tokens);
        var after = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(1, after.Hits);
        Assert.Equal(0, after.Misses);
        Assert.Equal(0, after.StagedBytes);
        Assert.True(after.BytesHeld <= after.CapacityBytes);
    }

    [Theory]
    [InlineData(KvLayouts.Shared, RestoreTierKind.Disk)]
    [InlineData(KvLayouts.Optimum, RestoreTierKind.Host)]
    public async Task A_prompt_that_departs_from_the_restored_history_restores_only_the_common_part(string layout, RestoreTierKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        using var engine = RestoreTierSetup.Create(layout, kind, folder, Budget);
        using var reference = EngineFactory.Create(layout, o => o with { RestoreTierKind = RestoreTierKind.Off });
        var promptA = Prompt(engine, "Tell me a fortune.");
        var first = await engine.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        await reference.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("b", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("c", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);
        Assert.Equal(0, engine.GetOrCreateHandle("a").CachedTokenCount);

        // The reply was edited after its 10th token: only the prompt and those 10 tokens are still A's history.
        var common = promptA.Length + 10;
        int[] edited = [.. promptA, .. first.Tokens[..10], .. engine.Tokenizer.EncodeToIds(" Edited." + FollowUp)];
        Assert.NotEqual(first.Tokens[10], edited[common]);
        var second = await engine.GenerateAsync("a", edited, EngineFactory.Greedy(NewTokens), [], ct);
        var expected = await reference.GenerateAsync("a", edited, EngineFactory.Greedy(NewTokens), [], ct);

        Assert.Equal(common, second.Usage.CachedTokens);
        Assert.Equal(common, second.Usage.RestoredTokens);
        Assert.Equal(common, expected.Usage.CachedTokens);
        Assert.Equal(expected.Tokens, second.Tokens);
        Assert.Equal(common, engine.GetRestoreTierStats().RestoredTokens);

        // Pushed out again, then a prompt that shares nothing with it: the entry is dropped as a mismatch.
        var b2 = await engine.GenerateAsync("b", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
        var c2 = await engine.GenerateAsync("c", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);
        Assert.True(b2.Usage.RestoredTokens > 0 && c2.Usage.RestoredTokens > 0, $"{b2.Usage} {c2.Usage}");
        Assert.Equal(0, engine.GetOrCreateHandle("a").CachedTokenCount);
        // (Raw text, not a chat turn: every chat prompt starts with the template's same few tokens, a common part too.)
        int[] unrelated = [.. engine.Tokenizer.EncodeToIds("Completely unrelated text.")];
        Assert.NotEqual(promptA[0], unrelated[0]);
        var other = await engine.GenerateAsync("a", unrelated, EngineFactory.Greedy(8), [], ct);
        Assert.Equal(0, other.Usage.CachedTokens);
        var stats = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(1, stats.MissesMismatch);
        Assert.Equal(3, stats.Hits); // A's edited turn, and B's and C's second turns (their histories were in the tier too)
        Assert.Equal(stats.Entries, stats.Kind == RestoreTierKind.Disk ? RestoreTierSetup.Files(stats).Length : stats.Entries);
    }

    [Theory]
    [InlineData(KvLayouts.Shared)]
    [InlineData(KvLayouts.Optimum)]
    public async Task Releasing_an_evicted_handle_deletes_its_entry_and_its_file(string layout)
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        using var engine = RestoreTierSetup.Create(layout, RestoreTierKind.Disk, folder, Budget);
        await engine.GenerateAsync("a", Prompt(engine, "Tell me a fortune."), EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("b", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("c", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);
        var a = engine.GetOrCreateHandle("a");
        Assert.Equal(1, a.Evictions);
        var spilled = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Single(RestoreTierSetup.Files(spilled));

        a.Dispose(); // the conversation was deleted

        var released = engine.GetRestoreTierStats();
        Assert.Equal(0, released.Entries);
        Assert.Equal(0, released.BytesHeld);
        Assert.Empty(RestoreTierSetup.Files(released)); // deleted by the release itself, not later
        // The id's next conversation starts from nothing, and is no miss: its handle was never evicted.
        var fresh = await engine.GenerateAsync("a", Prompt(engine, "Tell me a fortune."), EngineFactory.Greedy(NewTokens), [], ct);
        Assert.Equal(0, fresh.Usage.CachedTokens);
        Assert.Equal(0, engine.GetRestoreTierStats().Misses);

        // "fresh a" pushed b out; the idle-TTL sweep releases every idle handle, and their entries go with them.
        var settled = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.True(settled.Entries >= 1, settled.ToString());
        Assert.Equal(3, engine.Pool.ReleaseIdle(TimeSpan.Zero));
        var swept = engine.GetRestoreTierStats();
        Assert.Equal(0, swept.Entries);
        Assert.Equal(0, swept.BytesHeld);
        Assert.Empty(RestoreTierSetup.Files(swept));
    }

    [Fact]
    public async Task The_tier_holds_its_bound_evicting_its_oldest_entries_first()
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        var capacity = 130 * RestoreTierSetup.BytesPerToken; // two conversations' KV, not three
        using var engine = RestoreTierSetup.Create(KvLayouts.Shared, RestoreTierKind.Disk, folder, Budget, capacity);
        string[] questions = ["Tell me a fortune.", "What is HttpClient for?", "Goodbye.", "Hello!", "Count to five.", "What is a task?"];
        for (var i = 0; i < questions.Length; i++)
        {
            await engine.GenerateAsync($"c{i}", Prompt(engine, questions[i]), EngineFactory.Greedy(NewTokens), [], ct);
            var stats = await RestoreTierSetup.SettledAsync(engine, ct);
            Assert.True(stats.BytesHeld <= capacity, stats.ToString());
            var files = RestoreTierSetup.Files(stats);
            var dataBytes = files.Sum(f => new FileInfo(f).Length) - files.Length * 1024L; // headers are < 1 KiB here
            Assert.True(dataBytes <= capacity, $"{files.Length} files hold more than {capacity} bytes of KV");
        }

        var full = engine.GetRestoreTierStats();
        Assert.Equal(4, engine.Pool.Evictions); // c0…c3 pushed out, one per new conversation
        Assert.Equal(4, full.Spills);
        Assert.Equal(2, full.Evictions); // c0 and c1 made room for c2 and c3
        Assert.Equal(2, full.Entries);
        Assert.Equal(2, RestoreTierSetup.Files(full).Length);

        // c0 was the tier's oldest: gone, it recomputes; c3 is still there: restored.
        var c0 = await engine.GenerateAsync("c0", Prompt(engine, questions[0]), EngineFactory.Greedy(4), [], ct);
        var c3 = await engine.GenerateAsync("c3", Prompt(engine, questions[3]), EngineFactory.Greedy(4), [], ct);
        Assert.Equal(0, c0.Usage.CachedTokens);
        Assert.True(c3.Usage.RestoredTokens > 0, c3.Usage.ToString());
        Assert.Equal(c3.Usage.CachedTokens, c3.Usage.RestoredTokens);
        var after = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(1, after.MissesAbsent);
        Assert.Equal(1, after.Hits);
        Assert.True(after.BytesHeld <= capacity);
    }

    [Fact]
    public async Task The_tier_folder_is_cleaned_up_restored_released_and_disposed_and_dead_engines_folders_go_too()
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        // A crashed engine's folder (no process has that id) goes; a live engine's (this process) stays.
        var dead = Directory.CreateDirectory(Path.Combine(folder.Path, RestoreTier.FolderPrefix + "999999999-deadbeef")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(dead, "0000000000000001" + RestoreTier.FileExtension), [1, 2, 3], ct);
        var live = Directory.CreateDirectory(Path.Combine(folder.Path, $"{RestoreTier.FolderPrefix}{Environment.ProcessId}-other")).FullName;
        string engineFolder;
        using (var engine = RestoreTierSetup.Create(KvLayouts.Shared, RestoreTierKind.Disk, folder, Budget))
        {
            engineFolder = engine.GetRestoreTierStats().Folder!;
            Assert.StartsWith(folder.Path, engineFolder, StringComparison.Ordinal);
            Assert.False(Directory.Exists(dead));
            Assert.True(Directory.Exists(live));

            var concurrent = Enumerable.Range(0, 8).Select(i => engine.GenerateAsync($"s{i}",
                Prompt(engine, $"Count to {i + 2}."), EngineFactory.Greedy(NewTokens), [], ct)).ToArray();
            await Task.WhenAll(concurrent);
            for (var i = 0; i < 8; i += 2)
            {
                await engine.GenerateAsync($"s{i}", Prompt(engine, $"Count to {i + 2}."), EngineFactory.Greedy(4), [], ct);
            }

            var stats = await RestoreTierSetup.SettledAsync(engine, ct);
            Assert.True(stats.Spills > 0 && stats.Hits > 0, stats.ToString());
            Assert.Equal(stats.Entries, RestoreTierSetup.Files(stats).Length);
            Assert.Empty(RestoreTierSetup.TempFiles(stats));
            for (var i = 0; i < 8; i++)
            {
                engine.GetOrCreateHandle($"s{i}").Dispose();
            }

            var released = engine.GetRestoreTierStats();
            Assert.Equal(0, released.Entries);
            Assert.Equal(0, released.BytesHeld);
            Assert.Empty(Directory.GetFileSystemEntries(engineFolder));

            await engine.GenerateAsync("x", Prompt(engine, "Tell me a fortune."), EngineFactory.Greedy(NewTokens), [], ct);
            await engine.GenerateAsync("y", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
            await engine.GenerateAsync("z", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);
            Assert.NotEmpty(RestoreTierSetup.Files(await RestoreTierSetup.SettledAsync(engine, ct)));
        }

        Assert.False(Directory.Exists(engineFolder)); // disposing the engine deletes its folder, entries and all
        Assert.True(Directory.Exists(live));
    }

    [Theory]
    [InlineData(KvLayouts.Shared, RestoreTierKind.Disk)]
    [InlineData(KvLayouts.Optimum, RestoreTierKind.Host)]
    public async Task Turns_releases_and_imports_racing_each_other_stay_exact_and_leave_nothing_behind(string layout, RestoreTierKind kind)
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        using var engine = RestoreTierSetup.Create(layout, kind, folder, 2 * Budget);
        using var reference = EngineFactory.Create(layout, o => o with { RestoreTierKind = RestoreTierKind.Off });
        string[] questions = ["Tell me a fortune.", "What is HttpClient for?", "Goodbye.", "Hello!", "Count to five.", "What is a task?"];
        var firstTurns = questions.Select(q => Prompt(engine, q)).ToArray();
        var replies = new Generation[questions.Length];
        for (var i = 0; i < questions.Length; i++)
        {
            replies[i] = await reference.GenerateAsync($"r{i}", firstTurns[i], EngineFactory.Greedy(NewTokens), [], ct);
        }

        var secondTurns = firstTurns.Select((p, i) => NextTurn(engine, p, replies[i])).ToArray();
        var expected = new int[questions.Length][];
        for (var i = 0; i < questions.Length; i++)
        {
            expected[i] = (await reference.GenerateAsync($"r{i}", secondTurns[i], EngineFactory.Greedy(NewTokens), [], ct)).Tokens;
        }

        var snapshot = reference.ExportKv("r0")!;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // Meanwhile on other threads: imports evicting (and spilling) from callers' threads, and releases of other ids.
        var churn = Task.Run(async () =>
        {
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                engine.TryImportKv($"imported-{n % 4}", snapshot);
                if (n % 3 == 0)
                {
                    engine.GetOrCreateHandle($"imported-{(n + 1) % 4}").Dispose();
                }

                await Task.Delay(1, CancellationToken.None);
            }
        }, CancellationToken.None);

        for (var round = 0; round < 3; round++)
        {
            // All first turns, then all second turns: the later first turns push the earlier ones out, and the second
            // turns restore them while the others run (restored at submission, or staged when the budget is busy).
            await Task.WhenAll(Enumerable.Range(0, questions.Length).Select(async i =>
            {
                var first = await engine.GenerateAsync($"c{round}-{i}", firstTurns[i], EngineFactory.Greedy(NewTokens), [], ct);
                Assert.Equal(replies[i].Tokens, first.Tokens);
            }));
            await Task.WhenAll(Enumerable.Range(0, questions.Length).Select(async i =>
            {
                var second = await engine.GenerateAsync($"c{round}-{i}", secondTurns[i], EngineFactory.Greedy(NewTokens), [], ct);
                Assert.Equal(expected[i], second.Tokens);
                Assert.Equal(second.Usage.PromptTokens, second.Usage.CachedTokens + second.Usage.ComputedTokens);
                Assert.InRange(second.Usage.RestoredTokens, 0, second.Usage.CachedTokens);
            }));
        }

        await stop.CancelAsync();
        await churn;
        var stats = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.True(stats.Spills > 0 && stats.Hits > 0, stats.ToString());
        Assert.True(stats.BytesHeld <= stats.CapacityBytes);
        Assert.Equal(0, stats.StagedBytes);
        Assert.Equal(0, engine.Pool.Snapshot().ReservedBytes);

        engine.Pool.ReleaseIdle(TimeSpan.Zero);
        var empty = await RestoreTierSetup.SettledAsync(engine, ct);
        Assert.Equal(0, empty.Entries);
        Assert.Equal(0, empty.BytesHeld);
        Assert.Equal(0, engine.Pool.UsedBytes);
        if (empty.Folder is not null)
        {
            Assert.Empty(Directory.GetFileSystemEntries(empty.Folder));
        }
    }

    [Fact]
    public async Task The_engine_meter_reports_spills_hits_misses_bytes_and_restore_time()
    {
        var ct = TestContext.Current.CancellationToken;
        using var folder = new TempDirectory();
        using var engine = RestoreTierSetup.Create(KvLayouts.Shared, RestoreTierKind.Disk, folder, Budget);
        var values = new Dictionary<string, double>();
        var restoreTimes = new List<(double Seconds, string? Source)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, engine.Metrics.Meter) && instrument.Name.StartsWith("autoglm.restore_tier.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            var name = tags.Length == 0 ? i.Name : $"{i.Name}[{tags[0].Value}]";
            values[name] = v; // observable: the latest total wins
        });
        listener.SetMeasurementEventCallback<int>((i, v, _, _) => values[i.Name] = v);
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => restoreTimes.Add((v, tags.Length > 0 ? tags[0].Value as string : null)));
        listener.Start();

        var promptA = Prompt(engine, "Tell me a fortune.");
        var first = await engine.GenerateAsync("a", promptA, EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("b", Prompt(engine, "What is HttpClient for?"), EngineFactory.Greedy(NewTokens), [], ct);
        await engine.GenerateAsync("c", Prompt(engine, "Goodbye."), EngineFactory.Greedy(NewTokens), [], ct);
        await RestoreTierSetup.SettledAsync(engine, ct);
        var second = await engine.GenerateAsync("a", NextTurn(engine, promptA, first), EngineFactory.Greedy(NewTokens), [], ct);
        var stats = await RestoreTierSetup.SettledAsync(engine, ct);
        listener.RecordObservableInstruments();

        Assert.Equal(3, values["autoglm.restore_tier.spills"]); // A, then B and C
        Assert.Equal(1, values["autoglm.restore_tier.hits"]);
        Assert.Equal(second.Usage.RestoredTokens, values["autoglm.restore_tier.restored_tokens"]);
        Assert.Equal(0, values["autoglm.restore_tier.misses[absent]"]);
        Assert.Equal(0, values["autoglm.restore_tier.misses[mismatch]"]);
        Assert.Equal(0, values["autoglm.restore_tier.misses[refused]"]);
        Assert.Equal(0, values["autoglm.restore_tier.spill_skips[too_large]"]);
        Assert.Equal(stats.BytesHeld, values["autoglm.restore_tier.bytes"]);
        Assert.Equal(2, values["autoglm.restore_tier.entries"]);
        Assert.Equal(EngineOptions.DefaultRestoreTierBytes, values["autoglm.restore_tier.capacity_bytes"]);
        var (seconds, source) = Assert.Single(restoreTimes);
        Assert.Equal("disk", source);
        Assert.InRange(seconds, 0, 5);
    }

    [Fact]
    public void A_tier_of_zero_bytes_or_off_is_no_tier()
    {
        using var folder = new TempDirectory();
        using (var zero = RestoreTierSetup.Create(KvLayouts.Shared, RestoreTierKind.Disk, folder, Budget, tierBytes: 0))
        {
            Assert.Equal(RestoreTierKind.Off, zero.GetRestoreTierStats().Kind);
        }

        using (var off = RestoreTierSetup.Create(KvLayouts.Shared, RestoreTierKind.Off, folder, Budget))
        {
            Assert.Equal(RestoreTierStats.Off, off.GetRestoreTierStats());
            Assert.Equal(RestoreTierStats.Off, off.GetStats().RestoreTier);
        }

        Assert.Empty(Directory.GetFileSystemEntries(folder.Path)); // neither made a folder

        // Auto on the CPU: the KV is in host memory already, so the tier is the disk.
        using var auto = RestoreTierSetup.Create(KvLayouts.Shared, RestoreTierKind.Auto, folder, Budget);
        Assert.Equal(RestoreTierKind.Disk, auto.GetRestoreTierStats().Kind);
        Assert.Equal(EngineOptions.DefaultRestoreTierBytes, auto.GetRestoreTierStats().CapacityBytes);
        Assert.Single(Directory.GetDirectories(folder.Path));
        Assert.Throws<ArgumentOutOfRangeException>(() => EngineFactory.Create(o => o with { RestoreTierBytes = -1 }));
    }
}
