using System.Text.Json.Nodes;
using AutoGlm.Orleans.Benchmarks.MultiTurn;

namespace AutoGlm.Orleans.Benchmarks.Responses;

/// <summary>Medians and rounding for the result file: milliseconds to 0.01, ratios to 0.001.</summary>
internal static class Figures
{
    public static double Median(IEnumerable<double> values) => Percentiles.Of([.. values], 50);

    public static double Ms(double value) => Math.Round(value, 2);

    public static double Ratio(double numerator, double denominator) => denominator == 0 ? double.NaN : Math.Round(numerator / denominator, 3);

    public static JsonArray Array(IEnumerable<double> values) => [.. values.Select(v => JsonValue.Create(Ms(v)))];

    public static JsonArray Array(IEnumerable<int> values) => [.. values.Select(v => JsonValue.Create(v))];
}
