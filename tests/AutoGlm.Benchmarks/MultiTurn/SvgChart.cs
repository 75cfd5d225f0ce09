using System.Globalization;
using System.Security;
using System.Text;

namespace AutoGlm.Orleans.Benchmarks.MultiTurn;

/// <summary>
/// A line chart as plain SVG (no plotting package on a build machine without a network): one line per series,
/// linear axes from zero, ticks at round numbers, a legend. Written by hand so the docs can commit the file.
/// </summary>
public sealed class SvgChart(string title, string xLabel, string yLabel)
{
    private const int Width = 640;
    private const int Height = 400;
    private const int Left = 70;
    private const int Right = 160;
    private const int Top = 40;
    private const int Bottom = 50;
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
    private readonly List<(string Name, IReadOnlyList<(double X, double Y)> Points)> _series = [];

    public void Add(string name, IReadOnlyList<(double X, double Y)> points) =>
        _series.Add((name, points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToList()));

    /// <summary>The chart's SVG element, placed at (<paramref name="x"/>, <paramref name="y"/>).</summary>
    public string Render(int x, int y)
    {
        var points = _series.SelectMany(s => s.Points).ToList();
        var xMax = NiceCeiling(points.Count == 0 ? 1 : points.Max(p => p.X));
        var yMax = NiceCeiling(points.Count == 0 ? 1 : points.Max(p => p.Y));
        var plotW = Width - Left - Right;
        var plotH = Height - Top - Bottom;
        string X(double v) => F(Left + (v / xMax * plotW));
        string Y(double v) => F(Top + plotH - (v / yMax * plotH));
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<g transform=\"translate({x},{y})\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width / 2}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n");
        for (var i = 0; i <= 5; i++)
        {
            var xv = xMax * i / 5;
            var yv = yMax * i / 5;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Left + plotW}\" y1=\"{Y(yv)}\" y2=\"{Y(yv)}\" stroke=\"#ddd\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{Y(yv)}\" text-anchor=\"end\" dominant-baseline=\"middle\">{Label(yv)}</text>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(xv)}\" y=\"{Top + plotH + 18}\" text-anchor=\"middle\">{Label(xv)}</text>\n");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#333\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + (plotW / 2)}\" y=\"{Height - 10}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(16,{Top + (plotH / 2)}) rotate(-90)\" text-anchor=\"middle\">{Escape(yLabel)}</text>\n");
        for (var s = 0; s < _series.Count; s++)
        {
            var (name, series) = _series[s];
            var color = Colors[s % Colors.Length];
            if (series.Count > 0)
            {
                var path = string.Join(' ', series.Select(p => $"{X(p.X)},{Y(p.Y)}"));
                svg.Append(CultureInfo.InvariantCulture, $"<polyline points=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>\n");
                foreach (var p in series)
                {
                    svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(p.X)}\" cy=\"{Y(p.Y)}\" r=\"3\" fill=\"{color}\"/>\n");
                }
            }

            var ly = Top + 10 + (s * 20);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left + plotW + 12}\" x2=\"{Left + plotW + 32}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW + 38}\" y=\"{ly}\" dominant-baseline=\"middle\">{Escape(name)}</text>\n");
        }

        svg.Append("</g>\n");
        return svg.ToString();
    }

    /// <summary>Charts stacked vertically in one SVG document.</summary>
    public static string Document(IReadOnlyList<SvgChart> charts)
    {
        ArgumentNullException.ThrowIfNull(charts);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture,
            $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height * charts.Count}\" viewBox=\"0 0 {Width} {Height * charts.Count}\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height * charts.Count}\" fill=\"white\"/>\n");
        for (var i = 0; i < charts.Count; i++)
        {
            svg.Append(charts[i].Render(0, i * Height));
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>1, 2 or 5 times a power of ten, at least <paramref name="value"/>: ticks at fifths stay round.</summary>
    private static double NiceCeiling(double value)
    {
        if (!(value > 0))
        {
            return 1;
        }

        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1.0, 2.0, 5.0, 10.0 })
        {
            if (step * power >= value)
            {
                return step * power;
            }
        }

        return 10 * power;
    }

    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);

    private static string Label(double v) => v.ToString(v >= 10 || v == 0 ? "0" : "0.##", CultureInfo.InvariantCulture);

    private static string Escape(string text) => SecurityElement.Escape(text) ?? "";
}
