using Kernels.Nets.Models.AnatomicalAugmentation;

namespace Kernels.Tests.Lits;

/// <summary>The sparse annotation (one labelled slice per lesion) and the anatomical augmentation
/// (±k neighbours with the labelled slice's mask) on small hand-made volumes.</summary>
public class AnatomicalAugmentationDatasetTests
{
    private const int W = 8, H = 6, D = 12;

    /// <summary>A 8×6×12 volume: liver x 1..6, y 1..4 on every slice; lesion 1 (cyst) a disc-ish
    /// patch on z 2..4, largest on z 3; lesion 2 (metastasis) on z 9..11, largest on z 11 (the
    /// last slice); HU = 100·z + x so each slice's image is recognisable.</summary>
    private static AnnotatedVolume Volume(int[]? kinds = null, Action<int[]>? drawExtra = null)
    {
        int n = W * H * D;
        var hu = new float[n];
        var liver = new bool[n];
        var lesion = new int[n];
        for (int z = 0; z < D; z++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                {
                    int i = (z * H + y) * W + x;
                    hu[i] = 100 * z + x - 250;
                    liver[i] = x is >= 1 and <= 6 && y is >= 1 and <= 4;
                }
        void Set(int z, int y, int x, int id) => lesion[(z * H + y) * W + x] = id;
        Set(2, 2, 2, 1);
        Set(3, 2, 2, 1); Set(3, 2, 3, 1); Set(3, 3, 2, 1);
        Set(4, 2, 2, 1); Set(4, 3, 2, 1);
        Set(9, 2, 5, 2);
        Set(10, 2, 5, 2); Set(10, 3, 5, 2);
        Set(11, 2, 5, 2); Set(11, 3, 5, 2); Set(11, 3, 4, 2);
        drawExtra?.Invoke(lesion);
        return new AnnotatedVolume("v", W, H, D, hu, liver, lesion, kinds ?? [PixelClass.Cyst, PixelClass.Metastasis]);
    }

    private static readonly SliceWindow Full = new(0, 0, 8);

    [Test]
    public void EachLesionGetsExactlyOneLabelledSliceAtItsLargestCrossSection()
    {
        var v = Volume();
        var labelled = SparseAnnotation.ChooseLabelledSlices(v);
        Assert.That(labelled.Select(s => s.Z), Is.EqualTo(new[] { 3, 11 }));
        Assert.That(labelled.Select(s => s.LesionIds.Single()), Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public void ZeroNeighboursGivesOnlyTheLabelledSlicesWithTheirTrueMasks()
    {
        var v = Volume();
        var ex = SparseAnnotation.Build(v, 0, new SliceWindow(0, 0, 8));
        Assert.That(ex.Select(e => e.Z), Is.EqualTo(new[] { 3, 11 }));
        Assert.That(ex.All(e => e.Offset == 0));
        // The 8-wide window over a 6-high slice: rows 6 and 7 are outside the volume.
        var expected = Pad(v.SliceClasses(3), PixelClass.Ignore);
        Assert.That(ex[0].Mask, Is.EqualTo(expected));
        Assert.That(ex[0].Scored, Is.EqualTo(new[] { (1, PixelClass.Cyst) }));
        Assert.That(ex[1].Scored, Is.EqualTo(new[] { (2, PixelClass.Metastasis) }));
        Assert.That(ex[0].Mask.Count(c => c == PixelClass.Cyst), Is.EqualTo(3));
        Assert.That(ex[0].Mask.Count(c => c == PixelClass.HealthyLiver), Is.EqualTo(24 - 3));
    }

    [Test]
    public void NeighboursTakeTheLabelledSlicesMaskButKeepTheirOwnImage()
    {
        var v = Volume();
        var ex = SparseAnnotation.Build(v, 2, Full);
        var around3 = ex.Where(e => e.SourceZ == 3).ToList();
        Assert.That(around3.Select(e => e.Z), Is.EqualTo(new[] { 1, 2, 3, 4, 5 }));
        var labelled = around3.Single(e => e.Z == 3);
        foreach (var e in around3)
        {
            Assert.That(e.Mask, Is.EqualTo(labelled.Mask), $"slice {e.Z} must carry slice 3's mask");
            Assert.That(e.Lesions, Is.EqualTo(labelled.Lesions));
            // Its own image: HU 100·z + x − 250 at (x, y) = (3, 1) → windowed.
            Assert.That(e.Image[1 * 8 + 3], Is.EqualTo((Math.Clamp(100f * e.Z + 3 - 250, -200, 250) + 200) / 450f).Within(1e-6));
            Assert.That(e.Scored, e.Z == 3 ? Has.Count.EqualTo(1) : Is.Empty);
        }
        // Slice 2's own truth differs from slice 3's (one cyst pixel, not three): the mask is not its own.
        Assert.That(Pad(v.SliceClasses(2), PixelClass.Ignore), Is.Not.EqualTo(around3.Single(e => e.Z == 2).Mask));
        Assert.That(around3.Single(e => e.Z == 1).Mask.Count(c => c == PixelClass.Cyst), Is.EqualTo(3),
            "slice 1 has no lesion of its own, yet takes slice 3's cyst");
    }

    [Test]
    public void NeighboursOutsideTheVolumeAreSkipped()
    {
        var ex = SparseAnnotation.Build(Volume(), 3, Full);
        var around11 = ex.Where(e => e.SourceZ == 11).Select(e => e.Z).ToList();
        Assert.That(around11, Is.EqualTo(new[] { 8, 9, 10, 11 }));
        Assert.That(ex.Select(e => e.Z), Is.Unique);
        Assert.That(ex.All(e => e.Z is >= 0 and < D));
    }

    [Test]
    public void ASliceNearTwoLabelledSlicesAppearsOnceWithTheNearestMask()
    {
        var src = SparseAnnotation.SourceOfEachSlice(10, [3, 7], 2);
        Assert.That(src, Is.EqualTo(new[] { -1, 3, 3, 3, 3, 3, 7, 7, 7, 7 }), "slice 5 is 2 from both: the lower wins");
        Assert.That(SparseAnnotation.SourceOfEachSlice(10, [3, 4], 1), Is.EqualTo(new[] { -1, -1, 3, 3, 4, 4, -1, -1, -1, -1 }),
            "a labelled slice keeps its own mask even next to another labelled slice");
        Assert.That(SparseAnnotation.SourceOfEachSlice(5, [], 3), Is.EqualTo(new[] { -1, -1, -1, -1, -1 }));
        Assert.Throws<ArgumentException>(() => SparseAnnotation.SourceOfEachSlice(5, [1], -1));
    }

    [Test]
    public void CountsGrowWithKAsTheVolumeAllows()
    {
        var v = Volume();
        int[] counts = [.. Enumerable.Range(0, 5).Select(k => SparseAnnotation.Build(v, k, Full).Count)];
        // Labelled 3 and 11 in 12 slices: k=1 → {2,3,4}+{10,11}; k=2 → {1..5}+{9..11}; k=3 → {0..6}+{8..11}; k=4 → all 12 (7 is 4 from both).
        Assert.That(counts, Is.EqualTo(new[] { 2, 5, 8, 11, 12 }));
    }

    [Test]
    public void LesionsSharingTheirLargestSliceShareOneLabelledSlice()
    {
        var v = Volume([PixelClass.Cyst, PixelClass.Metastasis, PixelClass.Hemangioma], l =>
        {
            // Lesion 3 (hemangioma): two pixels on slice 3, one on slice 4.
            l[(3 * H + 4) * W + 5] = 3; l[(3 * H + 4) * W + 6] = 3; l[(4 * H + 4) * W + 5] = 3;
        });
        var labelled = SparseAnnotation.ChooseLabelledSlices(v);
        Assert.That(labelled.Select(s => s.Z), Is.EqualTo(new[] { 3, 11 }));
        Assert.That(labelled[0].LesionIds, Is.EqualTo(new[] { 1, 3 }));
        var ex = SparseAnnotation.Build(v, 0, Full);
        Assert.That(ex[0].Scored, Is.EquivalentTo(new[] { (1, PixelClass.Cyst), (3, PixelClass.Hemangioma) }));
    }

    [Test]
    public void ALesionWithoutVoxelsGetsNoSlice()
    {
        var v = Volume([PixelClass.Cyst, PixelClass.Metastasis, PixelClass.Hemangioma]);
        Assert.That(SparseAnnotation.ChooseLabelledSlices(v).SelectMany(s => s.LesionIds), Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public void TheWindowCentresOnTheLiverAndOutsidePixelsAreAirAndIgnored()
    {
        var v = Volume();
        var w = SparseAnnotation.CentreOnLiver(v, 4);
        // Liver x 1..6 → centre 4, y 1..4 → centre 3; a 4-wide window starts 2 before.
        Assert.That(w, Is.EqualTo(new SliceWindow(2, 1, 4)));
        var shifted = new SliceWindow(-2, -1, 4);
        var ex = SparseAnnotation.Build(v, 0, shifted);
        Assert.That(ex[0].Image[0], Is.Zero, "outside the volume: air, windowed to 0");
        Assert.That(ex[0].Mask[0], Is.EqualTo(PixelClass.Ignore));
        Assert.That(ex[0].Mask[2 * 4 + 3], Is.EqualTo(PixelClass.HealthyLiver), "slice (1, 1) is liver");
        Assert.That(ex[0].Image[1 * 4 + 2], Is.EqualTo(250f / 450f).Within(1e-6), "slice 3 at (0, 0): HU 300 + 0 − 250 = 50");
        Assert.Throws<ArgumentException>(() => SparseAnnotation.Build(v, 0, shifted, 10, 10));
    }

    [Test]
    public void BadVolumesAreRefusedWithTheReason()
    {
        var e = Assert.Throws<ArgumentException>(() => new AnnotatedVolume("x", 2, 2, 2, new float[8], new bool[8], new int[7], []));
        Assert.That(e!.Message, Does.Contain("lesion 7"));
        e = Assert.Throws<ArgumentException>(() => new AnnotatedVolume("x", 2, 2, 1, new float[4], new bool[4], [0, 1, 0, 0], []));
        Assert.That(e!.Message, Does.Contain("lesion id 1"));
        e = Assert.Throws<ArgumentException>(() => new AnnotatedVolume("x", 2, 2, 1, new float[4], new bool[4], [0, 1, 0, 0], [PixelClass.HealthyLiver]));
        Assert.That(e!.Message, Does.Contain("kind 0"));
    }

    /// <summary>A W×H slice inside the 8×8 window at (0, 0): rows H..7 outside.</summary>
    private static int[] Pad(int[] slice, int outside)
    {
        var r = Enumerable.Repeat(outside, 64).ToArray();
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) r[y * 8 + x] = slice[y * W + x];
        return r;
    }
}
