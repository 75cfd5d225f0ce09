using System.Buffers;
using System.Numerics.Tensors;

namespace AutoGlm.Orleans.Inference.Sampling;

/// <summary>
/// Picks the next token of one request from the model's logits: repetition penalty, temperature, top-k, top-p,
/// in Hugging Face's order and with its semantics, then a draw from the request's own seeded stream.
/// Not thread-safe: one per request, called once per generated token, so it allocates nothing per call and
/// keeps its scratch buffers (rented from the shared pool, returned by <see cref="Dispose"/>).
/// </summary>
public sealed class TokenSampler : IDisposable
{
    // Tokens at least as likely as a uniform pick usually carry most of the mass, so the nucleus is looked for
    // among them first and the sort stays small; each miss lowers the bar this much, the last try takes all.
    private const float NucleusThresholdStep = 64f;
    private const int NucleusAttempts = 3;

    private readonly SamplingOptions _options;
    private readonly int _vocabSize;
    private readonly Xoshiro256StarStar _random;
    private float[] _scores;
    private int[] _candidateIds;
    private float[] _candidateWeights;
    private int[] _seenStamps;
    private int _stamp;
    private bool _disposed;

    public TokenSampler(SamplingOptions options, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, 1);
        _options = options;
        _vocabSize = vocabSize;
        Seed = options.Seed ?? (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue);
        _random = new Xoshiro256StarStar(Seed);

        _scores = ArrayPool<float>.Shared.Rent(vocabSize);
        var candidates = options.TopK > 0 ? Math.Min(options.TopK, vocabSize) : options.TopP < 1f ? vocabSize : 0;
        _candidateIds = candidates > 0 ? ArrayPool<int>.Shared.Rent(candidates) : [];
        _candidateWeights = candidates > 0 ? ArrayPool<float>.Shared.Rent(candidates) : [];
        _seenStamps = options.RepetitionPenalty != 1f ? ArrayPool<int>.Shared.Rent(vocabSize) : [];
        _seenStamps.AsSpan().Clear();
    }

    public SamplingOptions Options => _options;

    public int VocabSize => _vocabSize;

    /// <summary>The seed in use: the requested one, or the one drawn for it, so the run can be replayed.</summary>
    public ulong Seed { get; }

    /// <summary>Returns the next token id.</summary>
    /// <param name="logits">The last position's logits, one per vocabulary entry.</param>
    /// <param name="previousTokens">The sequence so far (prompt and generated), for the repetition penalty.</param>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> previousTokens)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (logits.Length != _vocabSize)
        {
            throw new ArgumentException($"expected {_vocabSize} logits, got {logits.Length}", nameof(logits));
        }

        if (_options.RepetitionPenalty == 1f && (_options.IsGreedy || _options.TopK == 1))
        {
            return ArgMax(logits); // nothing modifies the scores: skip the copy
        }

        var scores = _scores.AsSpan(0, _vocabSize);
        logits.CopyTo(scores);
        if (_options.RepetitionPenalty != 1f)
        {
            ApplyRepetitionPenalty(scores, previousTokens);
        }

        // Top-k = 1 keeps only the argmax whatever the temperature, so it is greedy, ties included.
        if (_options.IsGreedy || _options.TopK == 1)
        {
            return ArgMax(scores);
        }

        if (_options.TopK > 0 && _options.TopK < _vocabSize)
        {
            return SampleTopK(scores);
        }

        return _options.TopP < 1f ? SampleNucleus(scores) : SampleAll(scores);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        ArrayPool<float>.Shared.Return(_scores);
        Return(_candidateIds);
        Return(_candidateWeights);
        Return(_seenStamps);
        _scores = [];
        _candidateIds = [];
        _candidateWeights = [];
        _seenStamps = [];
    }

    /// <summary>Lowest index on ties, as torch.argmax.</summary>
    internal static int ArgMax(ReadOnlySpan<float> values) => GreedyArgMax.Of(values);

    /// <summary>
    /// Hugging Face's RepetitionPenaltyLogitsProcessor: once per distinct token already seen, a positive logit is
    /// divided by the penalty and a negative one multiplied, so a penalty above 1 always makes the token less likely.
    /// </summary>
    private void ApplyRepetitionPenalty(Span<float> scores, ReadOnlySpan<int> previousTokens)
    {
        // A stamp per call marks tokens already penalized without clearing a vocabulary-sized array each time.
        if (++_stamp == int.MaxValue)
        {
            _seenStamps.AsSpan().Clear();
            _stamp = 1;
        }

        var penalty = _options.RepetitionPenalty;
        foreach (var token in previousTokens)
        {
            if ((uint)token >= (uint)_vocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(previousTokens), token, $"token id outside the vocabulary of {_vocabSize}");
            }

            if (_seenStamps[token] == _stamp)
            {
                continue;
            }

            _seenStamps[token] = _stamp;
            var score = scores[token];
            scores[token] = score > 0f ? score / penalty : score * penalty;
        }
    }

    /// <summary>No truncation: turns the scores into softmax weights in place and draws from all of them.</summary>
    private int SampleAll(Span<float> scores)
    {
        var total = ToWeights(scores, Max(scores));
        return Draw(scores, ReadOnlySpan<int>.Empty, scores.Length, total);
    }

    /// <summary>
    /// Keeps the k best scores with a size-k min-heap (O(V log k), no full sort), sorts those k, then applies
    /// top-p to their renormalized distribution as Hugging Face does after top-k.
    /// </summary>
    private int SampleTopK(ReadOnlySpan<float> scores)
    {
        var k = _options.TopK;
        var ids = _candidateIds.AsSpan(0, k);
        var values = _candidateWeights.AsSpan(0, k);
        for (var i = 0; i < k; i++)
        {
            ids[i] = i;
            values[i] = scores[i];
        }

        for (var i = k / 2 - 1; i >= 0; i--)
        {
            SiftDown(ids, values, i, k);
        }

        for (var i = k; i < scores.Length; i++)
        {
            // Later indices lose ties, so only a strictly better score enters the heap.
            if (scores[i] > values[0])
            {
                ids[0] = i;
                values[0] = scores[i];
                SiftDown(ids, values, 0, k);
            }
        }

        // Heap sort: moving the worst to the back each time leaves the best first.
        for (var end = k - 1; end > 0; end--)
        {
            (ids[0], ids[end]) = (ids[end], ids[0]);
            (values[0], values[end]) = (values[end], values[0]);
            SiftDown(ids, values, 0, end);
        }

        var total = ToWeights(values, values[0]);
        var kept = NucleusSize(values, total);
        return Draw(values, ids, kept, kept == k ? total : Sum(values[..kept]));
    }

    /// <summary>Top-p without top-k: sorts only the candidates that can be in the nucleus.</summary>
    private int SampleNucleus(Span<float> scores)
    {
        var total = ToWeights(scores, Max(scores));
        var target = _options.TopP * total;
        var threshold = (float)(total / scores.Length);
        var count = 0;
        for (var attempt = 1; ; attempt++)
        {
            if (attempt == NucleusAttempts)
            {
                threshold = 0f;
            }

            count = 0;
            var mass = 0d;
            for (var i = 0; i < scores.Length; i++)
            {
                if (scores[i] >= threshold)
                {
                    _candidateIds[count] = i;
                    // Negated so an ascending sort puts the most likely first.
                    _candidateWeights[count] = -scores[i];
                    mass += scores[i];
                    count++;
                }
            }

            if (mass >= target || attempt == NucleusAttempts)
            {
                break;
            }

            threshold /= NucleusThresholdStep;
        }

        var ids = _candidateIds.AsSpan(0, count);
        var weights = _candidateWeights.AsSpan(0, count);
        weights.Sort(ids);
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] = -weights[i];
        }

        var kept = NucleusSize(weights, total);
        return Draw(weights, ids, kept, Sum(weights[..kept]));
    }

    /// <summary>
    /// How many of the weights (sorted, most likely first) make the nucleus: a token stays while the mass before
    /// it is below p, which keeps the one that crosses p and always at least one (Hugging Face's TopPLogitsWarper).
    /// </summary>
    private int NucleusSize(ReadOnlySpan<float> sortedWeights, double total)
    {
        if (_options.TopP >= 1f)
        {
            return sortedWeights.Length;
        }

        var target = _options.TopP * total;
        var before = 0d;
        var kept = 0;
        while (kept < sortedWeights.Length && before < target)
        {
            before += sortedWeights[kept];
            kept++;
        }

        return Math.Max(kept, 1);
    }

    /// <summary>Replaces scores by unnormalized softmax weights exp((s - max) / T); returns their sum.</summary>
    private double ToWeights(Span<float> scores, float max)
    {
        if (!float.IsFinite(max))
        {
            throw new ArgumentException($"the largest logit is {max}; cannot sample");
        }

        // Dividing (rather than multiplying by 1/T) keeps a tiny temperature from turning 0 * inf into NaN.
        TensorPrimitives.Subtract(scores, max, scores);
        TensorPrimitives.Divide(scores, _options.Temperature, scores);
        TensorPrimitives.Exp(scores, scores);
        return TensorPrimitives.Sum(scores);
    }

    /// <summary>Draws index j of the first <paramref name="count"/> weights with probability weight / total.</summary>
    private int Draw(ReadOnlySpan<float> weights, ReadOnlySpan<int> ids, int count, double total)
    {
        var target = _random.NextDouble() * total;
        var last = 0;
        for (var j = 0; j < count; j++)
        {
            if (weights[j] <= 0f)
            {
                continue;
            }

            last = j;
            target -= weights[j];
            if (target < 0d)
            {
                break;
            }
        }

        // Rounding can leave target a hair above zero at the end: the last token with any weight takes it.
        return ids.IsEmpty ? last : ids[last];
    }

    /// <summary>Min-heap on score, and on ties the higher index counts as worse, so lower indices survive.</summary>
    private static void SiftDown(Span<int> ids, Span<float> values, int root, int count)
    {
        while (true)
        {
            var worst = root;
            var left = 2 * root + 1;
            var right = left + 1;
            if (left < count && IsWorse(values[left], ids[left], values[worst], ids[worst]))
            {
                worst = left;
            }

            if (right < count && IsWorse(values[right], ids[right], values[worst], ids[worst]))
            {
                worst = right;
            }

            if (worst == root)
            {
                return;
            }

            (ids[root], ids[worst]) = (ids[worst], ids[root]);
            (values[root], values[worst]) = (values[worst], values[root]);
            root = worst;
        }
    }

    private static bool IsWorse(float value, int id, float otherValue, int otherId) =>
        value < otherValue || (value == otherValue && id > otherId);

    private static float Max(ReadOnlySpan<float> values)
    {
        var max = values[0];
        for (var i = 1; i < values.Length; i++)
        {
            if (values[i] > max)
            {
                max = values[i];
            }
        }

        return max;
    }

    private static double Sum(ReadOnlySpan<float> values)
    {
        var total = 0d;
        foreach (var value in values)
        {
            total += value;
        }

        return total;
    }

    private static void Return<T>(T[] array)
    {
        if (array.Length > 0)
        {
            ArrayPool<T>.Shared.Return(array);
        }
    }
}
