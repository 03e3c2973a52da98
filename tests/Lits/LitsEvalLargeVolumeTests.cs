using System.Diagnostics;
using Kernels.Nets.Metrics.Lits;

namespace Kernels.Tests.Lits;

/// <summary>A LiTS-sized pair (512×512×100, 0.7×0.7×2.5 mm): a liver-shaped ellipsoid with forty
/// lesions, the prediction shifted and with lesions grown, missed and added. Checks what is known
/// without a reference (exact counts, Dice from the construction) and prints the time taken.
/// Slow (a few seconds); the fast tests cover the same code on small volumes.</summary>
[Category("Slow")]
public class LitsEvalLargeVolumeTests
{
    [Test]
    public void ScoresA512By512By100PairAndReportsTheTime()
    {
        var shape = new VolumeShape(512, 512, 100);
        var spacing = new VoxelSpacing(0.7, 0.7, 2.5);
        var reference = new byte[shape.Voxels];
        var prediction = new byte[shape.Voxels];
        void Ellipsoid(byte[] v, double cx, double cy, double cz, double rx, double ry, double rz, byte label)
        {
            for (int z = Math.Max(0, (int)(cz - rz)); z <= Math.Min(shape.Z - 1, (int)(cz + rz) + 1); z++)
            for (int y = Math.Max(0, (int)(cy - ry)); y <= Math.Min(shape.Y - 1, (int)(cy + ry) + 1); y++)
            for (int x = Math.Max(0, (int)(cx - rx)); x <= Math.Min(shape.X - 1, (int)(cx + rx) + 1); x++)
            {
                double d = Math.Pow((x - cx) / rx, 2) + Math.Pow((y - cy) / ry, 2) + Math.Pow((z - cz) / rz, 2);
                if (d <= 1) v[x + shape.X * (y + shape.Y * (long)z)] = label;
            }
        }
        Ellipsoid(reference, 250, 260, 50, 150, 120, 40, 1);
        Ellipsoid(prediction, 253, 258, 50, 148, 122, 40, 1);
        var rng = new Random(5);
        int missed = 0, added = 0;
        for (int k = 0; k < 40; k++)
        {
            // Lesions on a grid so that none touch: 8 × 5 cells inside the liver.
            double cx = 150 + 28 * (k % 8), cy = 200 + 28 * (k / 8), cz = 35 + rng.Next(30);
            double r = 3 + rng.Next(8);
            Ellipsoid(reference, cx, cy, cz, r, r, r / 3.5 + 0.6, 2);
            if (k % 10 == 3) { missed++; continue; }
            Ellipsoid(prediction, cx + 1, cy, cz, r + (k % 3 == 0 ? 1 : 0), r, r / 3.5 + 0.6, 2);
        }
        for (int k = 0; k < 6; k++, added++) Ellipsoid(prediction, 170 + 40 * k, 350, 60, 4, 4, 2, 2);

        var sw = Stopwatch.StartNew();
        var e = new LitsEvaluator();
        var c = e.AddCase<byte>("0", prediction, reference, shape, spacing);
        var report = e.Finish();
        sw.Stop();
        TestContext.Out.WriteLine($"512×512×100 pair: {sw.Elapsed.TotalSeconds:0.00} s on {Environment.ProcessorCount} cores; " +
                                  $"liver Dice {c.Liver.Dice:0.0000} ASSD {c.Liver.Assd:0.000} mm; {c.DetectedLesions.Count} lesions scored");

        Assert.That(c.ReferenceLesions, Is.EqualTo(40));
        Assert.That(c.PredictedLesions, Is.EqualTo(40 - missed + added));
        Assert.That(c.Detection, Is.EqualTo(new DetectionCounts(40 - missed, added, missed)));
        Assert.That(c.Liver.Dice, Is.InRange(0.97, 1.0));
        Assert.That(c.Liver.Msd, Is.InRange(0.7, 30.0));
        Assert.That(report.Summary.LesionMeans.Dice, Is.InRange(0.6, 1.0));
    }
}
