using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using AutoGlm.Orleans.Benchmarks.MultiTurn;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace AutoGlm.Orleans.Benchmarks.OrtGenAI;

/// <summary>
/// ONNX Runtime GenAI in its best multi-turn mode: one <see cref="Generator"/> per conversation, kept alive across
/// turns, each turn's new tokens appended (AppendTokens: continuous decoding), so its KV is never recomputed.
/// The 0.18 C# API has no cross-request batching (the C API's engine is not exposed to C#), so conversations are
/// served concurrently the only way it allows: each generator's loop on its own thread, all sharing one model
/// (one ONNX Runtime session and its intra-op thread pool).
/// </summary>
internal sealed class OrtGenAiSystem : IChatSystem
{
    private readonly Model _model;
    private readonly ConcurrentDictionary<string, Generator> _generators = new();

    public OrtGenAiSystem(string configFolder)
    {
        _model = new Model(configFolder);
    }

    public async IAsyncEnumerable<TurnChunk> SendAsync(string conversationId, ChatTurn turn,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(turn);
        var generator = _generators.GetOrAdd(conversationId, _ =>
        {
            using var parameters = new GeneratorParams(_model);
            return new Generator(_model, parameters);
        });
        var tokens = Channel.CreateUnbounded<TurnChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        // GenAI's calls block for a whole forward: a dedicated thread per running turn keeps them off the pool.
        var loop = Task.Factory.StartNew(() =>
        {
            try
            {
                var held = (int)generator.TokenCount();
                var cached = held;
                if (held == 0)
                {
                    generator.AppendTokens(turn.SegmentTokenIds);
                }
                else
                {
                    // The last generated token is in the sequence but was never run, so it has no KV. GenAI 0.18
                    // then sizes the next forward's present one token too long and ONNX Runtime rejects it
                    // (with the Concat graph; the rewind is harmless with a shared buffer). Its RewindTo only
                    // accepts a length below the KV's (held - 1), so rewind two tokens and append them again with
                    // the new turn: one token more computed per turn than an ideal cache, noted in the report.
                    var sequence = generator.GetSequence(0);
                    int[] replay = [sequence[held - 2], sequence[held - 1], .. turn.SegmentTokenIds];
                    generator.RewindTo((ulong)(held - 2));
                    cached = held - 2;
                    generator.AppendTokens(replay);
                }

                for (var i = 0; i < turn.ReplyTokens && !cancellationToken.IsCancellationRequested; i++)
                {
                    generator.GenerateNextToken();
                    // Read the token as a client would (GenAI hands it back per step).
                    _ = generator.GetNextTokens()[0];
                    tokens.Writer.TryWrite(new TurnChunk(1));
                }

                tokens.Writer.TryWrite(new TurnChunk(0, new TurnUsage(cached + turn.SegmentTokenIds.Length, cached, turn.ReplyTokens)));
                tokens.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                tokens.Writer.TryComplete(ex);
            }
        }, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        await foreach (var chunk in tokens.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return chunk;
        }

        await loop.ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        foreach (var generator in _generators.Values)
        {
            generator.Dispose();
        }

        _model.Dispose();
        return ValueTask.CompletedTask;
    }
}
