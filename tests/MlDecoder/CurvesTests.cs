using Kernels.Nets.Imaging;
using Kernels.Tests.IO;
using SkiaSharp;

namespace Kernels.Tests.MlDecoder;

public class CurvesTests : TempFolderTest
{
    private static readonly CurvePanel[] Panels =
    [
        new("loss", [new CurveSeries("loss", [0.9, 0.5, double.NaN, 0.2], Curves.Blue)]),
        new("mAP", [new CurveSeries("model", [10, 40, 60, 70], Curves.Blue), new CurveSeries("EMA", [5, 30, 65, 72], Curves.Orange)]),
    ];

    [Test]
    public void WritesAPngOfTheAskedSizeThatDecodesWithTheLinesDrawn()
    {
        var path = PathOf("curves.png");
        Curves.WritePng(path, Panels, 640, 300);
        var bytes = File.ReadAllBytes(path);
        Assert.That(TrainingRunFilesTests.PngSize(bytes), Is.EqualTo((640, 300)));
        using var bitmap = SKBitmap.Decode(bytes);
        Assert.That(bitmap, Is.Not.Null);
        Assert.That((bitmap.Width, bitmap.Height), Is.EqualTo((640, 300)));
        // Both series colours appear (the lines were drawn), on a white background.
        var blue = new SKColor(Curves.Blue);
        var orange = new SKColor(Curves.Orange);
        bool hasBlue = false, hasOrange = false;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                hasBlue |= c == blue;
                hasOrange |= c == orange;
            }
        Assert.That(hasBlue && hasOrange, $"blue {hasBlue}, orange {hasOrange}");
        Assert.That(bitmap.GetPixel(0, 0), Is.EqualTo(SKColors.White));
        Assert.That(TempFiles(), Is.Empty);
    }

    [Test]
    public void OneEpochAndFlatValuesStillDraw()
    {
        var png = Curves.RenderPng([new CurvePanel("flat", [new CurveSeries("a", [3.0], Curves.Green)])], 200, 150);
        Assert.That(TrainingRunFilesTests.PngSize(png), Is.EqualTo((200, 150)));
    }

    [TestCase(0.0, 1.0), TestCase(12.3, 87.6), TestCase(0.0123, 0.0456), TestCase(-3.0, 7.0)]
    public void NiceRangeCoversTheValuesWithRoundSteps(double lo, double hi)
    {
        var (min, max, step) = Curves.NiceRange(lo, hi);
        Assert.That(min, Is.LessThanOrEqualTo(lo));
        Assert.That(max, Is.GreaterThanOrEqualTo(hi));
        double ticks = (max - min) / step;
        Assert.That(ticks, Is.InRange(3.0, 11.0));
        double mantissa = step / Math.Pow(10, Math.Floor(Math.Log10(step)));
        Assert.That(new[] { 1.0, 2.0, 5.0 }.Any(m => Math.Abs(m - mantissa) < 1e-9), $"step {step}");
    }

    [Test]
    public void RefusesNoPanelsAndTinySizes()
    {
        Assert.Throws<ArgumentException>(() => Curves.RenderPng([]));
        Assert.Throws<ArgumentException>(() => Curves.RenderPng(Panels, 150, 300));
    }
}
