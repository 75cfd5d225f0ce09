using System.Diagnostics;
using System.Runtime.InteropServices;
using AutoGlm.Orleans.Inference.Engine;
using AutoGlm.Orleans.Inference.KvCache;
using AutoGlm.Orleans.Inference.Metrics;
using AutoGlm.Orleans.Inference.Runtime;

namespace AutoGlm.Orleans.Inference.Scheduling;

/// <summary>
/// Runs a <see cref="StepPlan"/> on the model (vLLM's model runner with its update_from_output): cuts the admitted
/// handles to their reused prefix, computes the prefill chunks, joins finished prompts to the decode batch, runs
/// the batch's decode forward, samples every row and hands each token to the <see cref="OutputProcessor"/>.
/// Requests whose token ended them, and those a forward failed, end through the <see cref="RequestFinisher"/>
/// once the step's rows are all sampled (leaving the batch mid-loop would move its rows). Scheduler thread only.
/// </summary>
internal sealed class StepExecutor(IKvStrategy kv, KvCachePool pool, OutputProcessor output, RequestFinisher finisher, EngineMetrics metrics)
{
    private readonly IDecodeBatch _batch = kv.Batch;
    private readonly List<(ActiveRequest Request, RequestOutcome Outcome)> _finishing = [];
    private readonly List<ActiveRequest> _failing = [];

    /// <summary>Stopwatch ticks spent in decode forwards (re-packs included).</summary>
    public long DecodeForwardTicks { get; private set; }

    /// <summary>Stopwatch ticks spent after decode forwards: sampling, detokenizing, streaming, finishing rows.</summary>
    public long DecodeEmitTicks { get; private set; }

    /// <summary>Tokens sampled from decode forwards (prefills' first tokens not counted).</summary>
    public long DecodedTokens { get; private set; }

    public void Execute(StepPlan plan)
    {
        foreach (var request in plan.Admitted)
        {
            try
            {
                Truncate(request.Handle, request.CachedTokens);
            }
            catch (Exception ex)
            {
                finisher.Finish(request, RequestOutcome.Failed(ex)); // admitted but unprefilled: it must end here, not hang
            }
        }

        foreach (var chunk in plan.Prefills)
        {
            if (chunk.Request.State != RequestState.Finished)
            {
                Prefill(chunk);
            }
        }

        FinishSampled();
        if (_batch.Count > 0)
        {
            Decode();
        }

        // Memory past every reservation (a batch's padding) may have pushed the budget over: idle caches make room.
        pool.Settle();
    }

    /// <summary>Ends every running request with <paramref name="error"/>, the batch's KV forgotten (a step failed).</summary>
    public void FailBatch(Exception error)
    {
        // Joiners too: a step that failed while admitting them may have moved only some into the rows.
        _failing.Clear();
        _failing.AddRange(_batch.Rows);
        _failing.AddRange(_batch.Joining);
        _batch.Reset();
        _finishing.Clear();
        foreach (var request in _failing)
        {
            finisher.Finish(request, RequestOutcome.Failed(error));
        }

        _failing.Clear();
    }

    private void Truncate(KvCacheHandle handle, int keep)
    {
        if (keep >= handle.CachedTokenCount)
        {
            return;
        }

        if (keep == 0)
        {
            handle.DropCache();
            return;
        }

        kv.Truncate(handle, keep);
        handle.TokenList.RemoveRange(keep, handle.TokenList.Count - keep);
    }

    private void Prefill(PrefillChunk chunk)
    {
        var request = chunk.Request;
        var handle = request.Handle;
        try
        {
            var started = Stopwatch.GetTimestamp();
            var tokens = request.Prompt.AsSpan(chunk.Start, chunk.Length);
            using var result = kv.Prefill(handle, tokens, request.Prompt.Length);
            handle.TokenList.AddRange(tokens);
            metrics.Prefill(Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (!chunk.CompletesPrompt)
            {
                return;
            }

            var token = request.Sampler.Sample(result.LastLogits(0), CollectionsMarshal.AsSpan(request.Context));
            if (output.Process(request, token, Stopwatch.GetTimestamp()) is { } reason)
            {
                _finishing.Add((request, RequestOutcome.Completed(reason)));
                return;
            }
        }
        catch (Exception ex)
        {
            finisher.Finish(request, RequestOutcome.Failed(ex));
            return;
        }

        _batch.Join(request);
    }

    private void Decode()
    {
        var started = Stopwatch.GetTimestamp();
        IStepLogits result;
        try
        {
            result = _batch.Step();
        }
        catch (Exception ex)
        {
            FailBatch(ex);
            return;
        }

        var forwardDone = Stopwatch.GetTimestamp();
        DecodeForwardTicks += forwardDone - started;
        using (result)
        {
            var rows = _batch.Rows;
            metrics.DecodeStep(Stopwatch.GetElapsedTime(started, forwardDone).TotalSeconds, rows.Count);
            for (var r = 0; r < rows.Count; r++)
            {
                var row = rows[r];
                try
                {
                    var token = row.Sampler.Sample(result.LastLogits(r), CollectionsMarshal.AsSpan(row.Context));
                    if (output.Process(row, token, Stopwatch.GetTimestamp()) is { } reason)
                    {
                        _finishing.Add((row, RequestOutcome.Completed(reason)));
                    }
                }
                catch (Exception ex)
                {
                    _finishing.Add((row, RequestOutcome.Failed(ex))); // its logits (NaN) or its consumer: the other rows go on
                }
            }

            DecodedTokens += rows.Count;
        }

        FinishSampled();
        DecodeEmitTicks += Stopwatch.GetTimestamp() - forwardDone;
    }

    private void FinishSampled()
    {
        foreach (var (request, outcome) in _finishing)
        {
            finisher.Finish(request, outcome);
        }

        _finishing.Clear();
    }
}
