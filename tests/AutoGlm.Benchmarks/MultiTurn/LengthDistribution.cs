using System.Globalization;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// A token-length distribution, as vLLM's multi-turn benchmark configures them, written
/// <c>constant:V</c>, <c>uniform:MIN:MAX</c>, <c>normal:MEAN:STDDEV[:MIN:MAX]</c> or
/// <c>lognormal:MEAN:SIGMA[:MIN:MAX]</c> (MEAN is the distribution's mean; SIGMA that of the underlying normal).
/// Draws are clamped to [MIN, MAX] and at least 1.
/// </summary>
public sealed class LengthDistribution
{
    private readonly string _kind;
    private readonly double _a;
    private readonly double _b;

    private LengthDistribution(string spec, string kind, double a, double b, int min, int max)
    {
        Spec = spec;
        _kind = kind;
        _a = a;
        _b = b;
        Min = min;
        Max = max;
    }

    public string Spec { get; }

    public int Min { get; }

    public int Max { get; }

    public static LengthDistribution Parse(string spec)
    {
        ArgumentException.ThrowIfNullOrEmpty(spec);
        var parts = spec.Split(':');
        double Number(int i) => double.Parse(parts[i], CultureInfo.InvariantCulture);
        int Bound(int i, int fallback) => parts.Length > i ? (int)Number(i) : fallback;
        LengthDistribution result = parts[0] switch
        {
            "constant" when parts.Length == 2 => new(spec, "constant", Number(1), 0, (int)Number(1), (int)Number(1)),
            "uniform" when parts.Length == 3 => new(spec, "uniform", Number(1), Number(2), (int)Number(1), (int)Number(2)),
            "normal" when parts.Length is 3 or 5 => new(spec, "normal", Number(1), Number(2), Bound(3, 1), Bound(4, int.MaxValue)),
            "lognormal" when parts.Length is 3 or 5 => new(spec, "lognormal", Number(1), Number(2), Bound(3, 1), Bound(4, int.MaxValue)),
            _ => throw new FormatException(
                $"length distribution '{spec}': expected constant:V, uniform:MIN:MAX, normal:MEAN:STDDEV[:MIN:MAX] or lognormal:MEAN:SIGMA[:MIN:MAX]"),
        };
        if (result.Min < 1 || result.Max < result.Min)
        {
            throw new FormatException($"length distribution '{spec}': bounds must satisfy 1 <= MIN <= MAX");
        }

        return result;
    }

    public int Draw(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var value = _kind switch
        {
            "constant" => _a,
            "uniform" => _a + (random.NextDouble() * (_b - _a + 1)),
            "normal" => _a + (_b * Gaussian(random)),
            // mu chosen so the mean of the lognormal is _a: E[X] = exp(mu + sigma^2 / 2).
            _ => Math.Exp(Math.Log(_a) - (_b * _b / 2) + (_b * Gaussian(random))),
        };
        return (int)Math.Clamp(Math.Floor(value), Min, Max);
    }

    /// <summary>Box-Muller: a standard normal from two uniforms of the seeded stream.</summary>
    private static double Gaussian(Random random)
    {
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public override string ToString() => Spec;
}
