using Kernels.Nets.Metrics.Lits;

namespace Kernels.Tests.Lits;

/// <summary>The parts of the LiTS evaluation on small hand-made volumes whose answers are known
/// without any reference implementation.</summary>
public class LitsEvalUnitTests
{
    private static int At(VolumeShape s, int x, int y, int z) => x + s.X * (y + s.Y * z);

    private static byte[] Volume(VolumeShape s, byte fill = 0)
    {
        var v = new byte[s.Voxels];
        Array.Fill(v, fill);
        return v;
    }

    private static void Fill(byte[] v, VolumeShape s, int x0, int x1, int y0, int y1, int z0, int z1, byte label)
    {
        for (int z = z0; z <= z1; z++)
        for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            v[At(s, x, y, z)] = label;
    }

    [Test]
    public void ComponentsUseFaceConnectivityAndTheScorersNumbering()
    {
        var s = new VolumeShape(5, 4, 3);
        var m = new byte[s.Voxels];
        // A U shape that the scan meets as two pieces, joined later (needs the union).
        m[At(s, 0, 1, 0)] = m[At(s, 0, 2, 0)] = m[At(s, 1, 2, 0)] = m[At(s, 2, 2, 0)] = m[At(s, 2, 1, 0)] = 1;
        // Diagonal neighbours only: separate components.
        m[At(s, 4, 0, 1)] = 1;
        m[At(s, 3, 1, 1)] = 1;
        // Joined through z.
        m[At(s, 4, 3, 1)] = m[At(s, 4, 3, 2)] = 1;
        var labels = new int[s.Voxels];
        int n = ConnectedComponents.Label(m, s, labels);
        Assert.That(n, Is.EqualTo(4));
        // Numbered by first voxel in (x, y, z) order, x slowest (the scorer's scipy order on [x, y, z]).
        Assert.That(labels[At(s, 0, 1, 0)], Is.EqualTo(1), "the smallest x comes first");
        Assert.That(labels[At(s, 2, 1, 0)], Is.EqualTo(1), "the U's two arms are one component");
        Assert.That(labels[At(s, 3, 1, 1)], Is.EqualTo(2));
        Assert.That(labels[At(s, 4, 0, 1)], Is.EqualTo(3), "x 4 after x 3 although it comes first in memory");
        Assert.That(labels[At(s, 4, 3, 2)], Is.EqualTo(4));
        Assert.That(labels.Count(l => l == 0), Is.EqualTo(m.Count(b => b == 0)));
    }

    [TestCase(7, 5, 4, 0.7, 1.3, 2.9, 3)]
    [TestCase(13, 9, 6, 0.55, 0.55, 5.0, 11)]
    [TestCase(1, 8, 3, 1.0, 0.8, 1.5, 2)]
    public void DistanceTransformIsExactAgainstBruteForce(int nx, int ny, int nz, double sx, double sy, double sz, int features)
    {
        var s = new VolumeShape(nx, ny, nz);
        var rng = new Random(nx * 100 + ny);
        var f = new double[s.Voxels];
        Array.Fill(f, double.PositiveInfinity);
        var points = new List<(int X, int Y, int Z)>();
        for (int k = 0; k < features; k++)
        {
            var p = (rng.Next(nx), rng.Next(ny), rng.Next(nz));
            points.Add(p);
            f[At(s, p.Item1, p.Item2, p.Item3)] = 0;
        }
        DistanceTransform.SquaredInPlace(f, s, new VoxelSpacing(sx, sy, sz));
        for (int z = 0; z < nz; z++)
        for (int y = 0; y < ny; y++)
        for (int x = 0; x < nx; x++)
        {
            double best = points.Min(p => Math.Pow((x - p.X) * sx, 2) + Math.Pow((y - p.Y) * sy, 2) + Math.Pow((z - p.Z) * sz, 2));
            Assert.That(f[At(s, x, y, z)], Is.EqualTo(best).Within(1e-9 * Math.Max(1, best)), $"voxel {x},{y},{z}");
        }
    }

    [Test]
    public void DistanceTransformWithoutFeaturesIsInfinite()
    {
        var s = new VolumeShape(3, 2, 2);
        var f = Enumerable.Repeat(double.PositiveInfinity, 12).ToArray();
        DistanceTransform.SquaredInPlace(f, s, new VoxelSpacing(1, 1, 1));
        Assert.That(f, Is.All.EqualTo(double.PositiveInfinity));
    }

    [Test]
    public void IdenticalMasksScorePerfectlyAndAShiftGivesKnownDistances()
    {
        var s = new VolumeShape(12, 10, 8);
        var spacing = new VoxelSpacing(0.5, 0.75, 2.0);
        var r = Volume(s);
        Fill(r, s, 2, 8, 2, 7, 1, 5, 1);
        var e = new LitsEvaluator();
        var same = e.AddCase<byte>("same", r, r, s, spacing);
        Assert.That(same.Liver, Is.EqualTo(new SegmentationScores(1, 1, 0, 0, 0, 0, 0)));

        // The prediction one voxel further along x: every surface voxel is 0 or 0.5 mm away.
        var p = Volume(s);
        Fill(p, s, 3, 9, 2, 7, 1, 5, 1);
        var shifted = e.AddCase<byte>("shift", p, r, s, spacing);
        Assert.That(shifted.Liver.Dice, Is.EqualTo(2.0 * 6 * 6 * 5 / (2 * 7 * 6 * 5)).Within(1e-12));
        Assert.That(shifted.Liver.Rvd, Is.Zero);
        Assert.That(shifted.Liver.Msd, Is.EqualTo(0.5).Within(1e-12));
        Assert.That(shifted.Liver.Assd, Is.GreaterThan(0).And.LessThan(0.5));
        Assert.That(shifted.Liver.Rmsd, Is.GreaterThanOrEqualTo(shifted.Liver.Assd));
    }

    [Test]
    public void RvdIsNormalisedByThePredictionWithTheReferenceFirst()
    {
        var s = new VolumeShape(10, 10, 4);
        var r = Volume(s);
        Fill(r, s, 1, 8, 1, 8, 0, 3, 1);   // 8·8·4 = 256
        var p = Volume(s);
        Fill(p, s, 1, 8, 1, 4, 0, 3, 1);   // 8·4·4 = 128
        var c = new LitsEvaluator().AddCase<byte>("1", p, r, s, new VoxelSpacing(1, 1, 1));
        Assert.That(c.Liver.Rvd, Is.EqualTo((256.0 - 128.0) / 128.0));
        Assert.That(c.Liver.Jaccard, Is.EqualTo(c.Liver.Dice / (2 - c.Liver.Dice)).Within(1e-15));
        Assert.That(c.Liver.Voe, Is.EqualTo(1 - c.Liver.Jaccard));
    }

    [Test]
    public void EmptyPredictionGetsThePenaltiesAndNoCrash()
    {
        var s = new VolumeShape(9, 8, 5);
        var r = Volume(s);
        Fill(r, s, 1, 7, 1, 6, 0, 4, 1);
        Fill(r, s, 2, 3, 2, 3, 1, 2, 2);
        Fill(r, s, 6, 6, 5, 5, 3, 3, 2);
        var e = new LitsEvaluator();
        var c = e.AddCase<byte>("7", Volume(s), r, s, new VoxelSpacing(0.8, 0.8, 2.5));
        Assert.That(c.Liver, Is.EqualTo(SegmentationScores.EmptySide));
        Assert.That(c.LesionDice, Is.Zero);
        Assert.That(c.TumorBurdenPrediction, Is.EqualTo(9001));
        Assert.That(c.Detection, Is.EqualTo(new DetectionCounts(0, 0, 2)));
        var rep = e.Finish();
        Assert.That(rep.Summary.LesionMeans, Is.EqualTo(SegmentationScores.EmptySide), "nothing detected: the empty-side values");
        Assert.That(rep.Summary.LiverDiceGlobal, Is.Zero);
        Assert.That(rep.Summary.Precision, Is.Zero);
        Assert.That(rep.Summary.Recall, Is.Zero);
    }

    [Test]
    public void NoReferenceLesionMakesEveryPredictionAFalsePositive()
    {
        var s = new VolumeShape(10, 10, 3);
        var r = Volume(s, 1);
        var p = Volume(s, 1);
        Fill(p, s, 1, 2, 1, 2, 0, 0, 2);
        Fill(p, s, 6, 7, 6, 7, 1, 2, 2);
        var c = new LitsEvaluator().AddCase<byte>("3", p, r, s, new VoxelSpacing(1, 1, 1));
        Assert.That(c.ReferenceLesions, Is.Zero);
        Assert.That(c.PredictedLesions, Is.EqualTo(2));
        Assert.That(c.Detection, Is.EqualTo(new DetectionCounts(0, 2, 0)));
        Assert.That(c.DetectionAboveZero, Is.EqualTo(new DetectionCounts(0, 2, 0)));
        Assert.That(c.LesionDice, Is.Zero);
        Assert.That(c.TumorBurdenReference, Is.Zero);
    }

    [Test]
    public void NoLesionAnywhereScoresLesionDiceOne()
    {
        var s = new VolumeShape(4, 4, 2);
        var v = Volume(s, 1);
        var e = new LitsEvaluator();
        Assert.That(e.AddCase<byte>("0", v, v, s, new VoxelSpacing(1, 1, 1)).LesionDice, Is.EqualTo(1));
        Assert.That(e.Finish().Summary.LesionDiceGlobal, Is.EqualTo(1));
    }

    [Test]
    public void InPlaneFragmentsAreOneReferenceLesionButFragmentsAcrossSlicesAreNot()
    {
        var s = new VolumeShape(12, 6, 5);
        var r = Volume(s, 1);
        // Slice 0: two fragments one voxel apart along x → one lesion after the in-plane dilation.
        Fill(r, s, 1, 2, 1, 2, 0, 0, 2);
        Fill(r, s, 4, 5, 1, 2, 0, 0, 2);
        // Slices 2 and 4: the same footprint one slice apart → two lesions (no dilation along z).
        Fill(r, s, 8, 9, 1, 2, 2, 2, 2);
        Fill(r, s, 8, 9, 1, 2, 4, 4, 2);
        var c = new LitsEvaluator().AddCase<byte>("9", r, r, s, new VoxelSpacing(1, 1, 1));
        Assert.That(c.ReferenceLesions, Is.EqualTo(3));
        Assert.That(c.PredictedLesions, Is.EqualTo(4), "the prediction has no dilation");
        // Both predicted fragments match the one reference lesion and merge: 3 TP, nothing false.
        Assert.That(c.Detection, Is.EqualTo(new DetectionCounts(3, 0, 0)));
        Assert.That(c.DetectedLesions.Select(l => (l.References, l.Predictions)), Is.EqualTo(new[] { (1, 2), (1, 1), (1, 1) }));
        Assert.That(c.DetectedLesions.All(l => l.Scores.Dice == 1 && l.Scores.Msd == 0));
    }

    [Test]
    public void OnePredictionSpanningTwoReferencesMergesThemAndCountsBothAsFound()
    {
        var s = new VolumeShape(14, 6, 3);
        var r = Volume(s, 1);
        Fill(r, s, 1, 3, 1, 3, 1, 1, 2);
        Fill(r, s, 8, 10, 1, 3, 1, 1, 2);
        var p = Volume(s, 1);
        Fill(p, s, 1, 10, 1, 3, 1, 1, 2);   // a bar over both and the gap between
        var c = new LitsEvaluator().AddCase<byte>("4", p, r, s, new VoxelSpacing(1, 1, 1));
        Assert.That(c.ReferenceLesions, Is.EqualTo(2));
        // IoU = 18 / 30 = 0.6 > 0.5: the group of two references is detected, TP counts both.
        Assert.That(c.Detection, Is.EqualTo(new DetectionCounts(2, 0, 0)));
        Assert.That(c.DetectedLesions, Has.Count.EqualTo(1));
        Assert.That(c.DetectedLesions[0].References, Is.EqualTo(2));
        Assert.That(c.DetectedLesions[0].Scores.Dice, Is.EqualTo(2.0 * 18 / 48).Within(1e-12));

        // Wider still: IoU = 18 / 42 < 0.5. At > 0.5 the merged group is ONE false negative and the
        // prediction a false positive; at > 0 both references are found.
        var wide = Volume(s, 1);
        Fill(wide, s, 0, 13, 1, 3, 1, 1, 2);
        var w = new LitsEvaluator().AddCase<byte>("5", wide, r, s, new VoxelSpacing(1, 1, 1));
        Assert.That(w.Detection, Is.EqualTo(new DetectionCounts(0, 1, 1)));
        Assert.That(w.DetectionAboveZero, Is.EqualTo(new DetectionCounts(2, 0, 0)));
        Assert.That(w.DetectedLesions, Is.Empty);
    }

    [Test]
    public void TiesInTheMergeAndTheMatchGoToTheLowerNumber()
    {
        // One row: R1 = x 0..6, R2 = x 13..18 (far enough apart to stay two lesions after the
        // dilation); P1 = x 0..2, P2 = x 4..15. P1 and P2 overlap R1 by 3 each: R1 goes to P1 (the
        // lower number), R2 to P2, so the groups are {R1} and {R2}. P2 overlaps both groups by 3:
        // it matches {R1}, the lower group. {R1} vs P1 ∪ P2: IoU 6 / 16 (detected only at > 0);
        // {R2} keeps no prediction (one false negative at both thresholds).
        var s = new VolumeShape(20, 3, 1);
        var r = Volume(s, 1);
        Fill(r, s, 0, 6, 1, 1, 0, 0, 2);
        Fill(r, s, 13, 18, 1, 1, 0, 0, 2);
        var p = Volume(s, 1);
        Fill(p, s, 0, 2, 1, 1, 0, 0, 2);
        Fill(p, s, 4, 15, 1, 1, 0, 0, 2);
        var c = new LitsEvaluator().AddCase<byte>("8", p, r, s, new VoxelSpacing(1, 1, 1));
        Assert.That((c.PredictedLesions, c.ReferenceLesions), Is.EqualTo((2, 2)));
        Assert.That(c.Detection, Is.EqualTo(new DetectionCounts(0, 2, 2)));
        Assert.That(c.DetectionAboveZero, Is.EqualTo(new DetectionCounts(1, 0, 1)));
    }

    [Test]
    public void PredictionWithoutLiverLabelCountsAsNoLiver()
    {
        var s = new VolumeShape(6, 6, 2);
        var r = Volume(s, 1);
        Fill(r, s, 2, 3, 2, 3, 0, 1, 2);
        var p = Volume(s, 0);
        Fill(p, s, 2, 3, 2, 3, 0, 1, 2);     // the tumour exactly, but no label 1
        var e = new LitsEvaluator();
        var c = e.AddCase<byte>("6", p, r, s, new VoxelSpacing(1, 1, 1));
        Assert.That(c.Liver, Is.EqualTo(SegmentationScores.EmptySide));
        Assert.That(c.LesionDice, Is.EqualTo(1));
        Assert.That(c.TumorBurdenPrediction, Is.EqualTo(9001));
        Assert.That(c.TumorBurdenReference, Is.EqualTo(8.0 / 72));
        var sum = e.Finish().Summary;
        Assert.That(sum.LiverDiceGlobal, Is.Zero, "only the reference's size enters the global liver Dice");
        Assert.That(sum.TumorBurdenMaxError, Is.EqualTo(8.0 / 72 - 9001).Within(1e-9));
    }

    [Test]
    public void LabelTypesGiveTheSameResult()
    {
        var s = new VolumeShape(8, 7, 3);
        var r = Volume(s, 1);
        Fill(r, s, 2, 4, 2, 4, 0, 2, 2);
        var p = Volume(s, 1);
        Fill(p, s, 3, 5, 2, 4, 0, 2, 2);
        var sp = new VoxelSpacing(0.7, 0.9, 3);
        var a = new LitsEvaluator().AddCase<byte>("1", p, r, s, sp);
        var b = new LitsEvaluator().AddCase<int>("1", p.Select(x => (int)x).ToArray(), r.Select(x => (int)x).ToArray(), s, sp);
        var c = new LitsEvaluator().AddCase<float>("1", p.Select(x => (float)x).ToArray(), r.Select(x => (float)x).ToArray(), s, sp);
        Assert.That(b.Liver, Is.EqualTo(a.Liver));
        Assert.That(c.Liver, Is.EqualTo(a.Liver));
        Assert.That(b.DetectedLesions.Select(l => l.Scores), Is.EqualTo(a.DetectedLesions.Select(l => l.Scores)));
    }

    [Test]
    public void BadInputIsRefusedWithTheCaseNamed()
    {
        var s = new VolumeShape(4, 4, 2);
        var e = new LitsEvaluator();
        var ex = Assert.Throws<ArgumentException>(() => e.AddCase<byte>("12", new byte[32], new byte[31], s, new VoxelSpacing(1, 1, 1)));
        Assert.That(ex!.Message, Does.Contain("case 12"));
        Assert.Throws<ArgumentException>(() => e.AddCase<byte>("12", new byte[32], new byte[32], s, new VoxelSpacing(1, 0, 1)));
        Assert.Throws<InvalidOperationException>(() => e.Finish());
    }
}
