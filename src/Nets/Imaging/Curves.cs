using System.Globalization;
using SkiaSharp;

namespace Kernels.Nets.Imaging;

/// <summary>One line of a chart: a value per epoch (index 0 = epoch 1); NaN or ±∞ values are gaps.</summary>
public sealed record CurveSeries(string Name, IReadOnlyList<double> Values, uint Argb);

/// <summary>One chart of <see cref="Curves"/>: a title and its lines, sharing the y axis.</summary>
public sealed record CurvePanel(string Title, IReadOnlyList<CurveSeries> Series);

/// <summary>Training curves as a PNG (curves.png): panels side by side, x = epoch, drawn with
/// SkiaSharp. Written to a temporary file and renamed, so a reader never sees half an image.</summary>
public static class Curves
{
    public const int DefaultWidth = 1000, DefaultHeight = 420;

    // A colour-blind-safe pair and a third for extra lines.
    public const uint Blue = 0xFF1F77B4, Orange = 0xFFFF7F0E, Green = 0xFF2CA02C;

    /// <summary>Writes the plot, or logs why it could not: a run's curves are a by-product, so a
    /// failure to draw or write them never stops training.</summary>
    public static bool TryWritePng(string path, IReadOnlyList<CurvePanel> panels, Action<string> log)
    {
        try
        {
            WritePng(path, panels);
            return true;
        }
        catch (Exception e)
        {
            log($"warning: could not write {Path.GetFileName(path)} ({e.GetType().Name}: {e.Message}); training goes on");
            return false;
        }
    }

    public static void WritePng(string path, IReadOnlyList<CurvePanel> panels, int width = DefaultWidth, int height = DefaultHeight)
    {
        var png = RenderPng(panels, width, height);
        var tmp = $"{Path.GetFullPath(path)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            File.WriteAllBytes(tmp, png);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>The PNG bytes of the panels at width × height pixels.</summary>
    public static byte[] RenderPng(IReadOnlyList<CurvePanel> panels, int width = DefaultWidth, int height = DefaultHeight)
    {
        if (panels.Count == 0) throw new ArgumentException("Curves: no panels to draw");
        if (width < 100 * panels.Count || height < 100)
            throw new ArgumentException($"Curves: {width}×{height} pixels is too small for {panels.Count} panels");
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul))
            ?? throw new InvalidOperationException($"Curves: SkiaSharp could not create a {width}×{height} surface");
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var font = new SKFont(SKTypeface.Default, 13);
        using var titleFont = new SKFont(SKTypeface.Default, 15);
        float panelWidth = width / (float)panels.Count;
        for (int i = 0; i < panels.Count; i++)
            DrawPanel(canvas, panels[i], new SKRect(i * panelWidth, 0, (i + 1) * panelWidth, height), font, titleFont);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100)
            ?? throw new InvalidOperationException("Curves: SkiaSharp could not encode the PNG");
        return data.ToArray();
    }

    private static void DrawPanel(SKCanvas canvas, CurvePanel panel, SKRect area, SKFont font, SKFont titleFont)
    {
        // Plot area inside the panel: room for y labels on the left, x labels below, the title above.
        var plot = new SKRect(area.Left + 64, area.Top + 34, area.Right - 16, area.Bottom - 44);
        int points = panel.Series.Count == 0 ? 0 : panel.Series.Max(s => s.Values.Count);
        var finite = panel.Series.SelectMany(s => s.Values).Where(double.IsFinite).ToList();
        double lo = finite.Count > 0 ? finite.Min() : 0, hi = finite.Count > 0 ? finite.Max() : 1;
        if (hi - lo < 1e-12 * Math.Max(1, Math.Abs(hi))) { lo -= 0.5; hi += 0.5; }
        var (yMin, yMax, yStep) = NiceRange(lo, hi);
        double xMin = 1, xMax = Math.Max(2, points);

        // The first and last epochs sit a little inside the frame, so their dots are whole.
        const float inset = 8;
        float X(double epoch) => plot.Left + inset + (float)((epoch - xMin) / (xMax - xMin)) * (plot.Width - 2 * inset);
        float Y(double v) => plot.Bottom - (float)((v - yMin) / (yMax - yMin)) * plot.Height;

        using var ink = new SKPaint { Color = new SKColor(0xFF333333), IsAntialias = true };
        using var grid = new SKPaint { Color = new SKColor(0xFFE4E4E4), StrokeWidth = 1, IsAntialias = true };
        using var axis = new SKPaint { Color = new SKColor(0xFF555555), StrokeWidth = 1.2f, IsAntialias = true, Style = SKPaintStyle.Stroke };

        canvas.DrawText(panel.Title, (area.Left + area.Right) / 2, area.Top + 22, SKTextAlign.Center, titleFont, ink);
        for (double v = yMin; v <= yMax + yStep / 2; v += yStep)
        {
            float y = Y(v);
            canvas.DrawLine(plot.Left, y, plot.Right, y, grid);
            canvas.DrawText(Label(v, yStep), plot.Left - 6, y + 4, SKTextAlign.Right, font, ink);
        }
        int xStep = Math.Max(1, (int)Math.Ceiling((xMax - xMin) / 10));
        for (int e = 1; e <= xMax; e += xStep)
        {
            float x = X(e);
            canvas.DrawLine(x, plot.Bottom, x, plot.Bottom + 4, axis);
            canvas.DrawText(e.ToString(CultureInfo.InvariantCulture), x, plot.Bottom + 18, SKTextAlign.Center, font, ink);
        }
        canvas.DrawText("epoch", (plot.Left + plot.Right) / 2, plot.Bottom + 36, SKTextAlign.Center, font, ink);
        canvas.DrawRect(plot, axis);

        float legendY = plot.Top + 16;
        foreach (var s in panel.Series)
        {
            using var line = new SKPaint { Color = new SKColor(s.Argb), StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
            using var dot = new SKPaint { Color = new SKColor(s.Argb), IsAntialias = true, Style = SKPaintStyle.Fill };
            using var path = new SKPath();
            bool pen = false;
            for (int i = 0; i < s.Values.Count; i++)
            {
                double v = s.Values[i];
                if (!double.IsFinite(v)) { pen = false; continue; }
                float x = X(i + 1), y = Y(v);
                if (pen) path.LineTo(x, y);
                else path.MoveTo(x, y);
                pen = true;
                canvas.DrawCircle(x, y, 3, dot);
            }
            canvas.DrawPath(path, line);
            // Legend, top right inside the plot.
            float right = plot.Right - 10;
            canvas.DrawLine(right - 22, legendY - 4, right, legendY - 4, line);
            canvas.DrawText(s.Name, right - 28, legendY, SKTextAlign.Right, font, ink);
            legendY += 17;
        }
    }

    /// <summary>A range covering [lo, hi] with 4 to 8 round steps (1, 2 or 5 × 10^n).</summary>
    internal static (double Min, double Max, double Step) NiceRange(double lo, double hi)
    {
        double raw = (hi - lo) / 5;
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = (raw / mag) switch { < 1.5 => 1, < 3.5 => 2, < 7.5 => 5, _ => 10 } * mag;
        return (Math.Floor(lo / step) * step, Math.Ceiling(hi / step) * step, step);
    }

    private static string Label(double v, double step)
    {
        int decimals = Math.Clamp(-(int)Math.Floor(Math.Log10(step)), 0, 6);
        return Math.Round(v, decimals).ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }
}
