using Kernels.Nets.Models.Lits;

namespace Kernels.Tests.Lits;

public class CascadeTests
{
    private static readonly int[] Dims = [6, 10, 12];

    private static int At(int z, int y, int x) => (z * Dims[1] + y) * Dims[2] + x;

    private static byte[] Volume(params (int Z0, int Z1, int Y0, int Y1, int X0, int X1, byte Label)[] boxes)
    {
        var v = new byte[Dims[0] * Dims[1] * Dims[2]];
        foreach (var b in boxes)
            for (int z = b.Z0; z < b.Z1; z++)
                for (int y = b.Y0; y < b.Y1; y++)
                    for (int x = b.X0; x < b.X1; x++) v[At(z, y, x)] = b.Label;
        return v;
    }

    [Test]
    public void ComponentsAreFaceConnected()
    {
        var mask = new bool[Dims[0] * Dims[1] * Dims[2]];
        mask[At(1, 1, 1)] = mask[At(1, 1, 2)] = true;   // one component of 2
        mask[At(2, 2, 3)] = true;                       // touches (1,1,2) only diagonally: separate
        mask[At(4, 5, 5)] = mask[At(5, 5, 5)] = mask[At(5, 6, 5)] = true; // 3 voxels
        var (ids, sizes) = LabelOps.Components(mask, Dims);
        Assert.That(sizes.Skip(1), Is.EquivalentTo(new long[] { 2, 1, 3 }));
        Assert.That(ids[At(1, 1, 1)], Is.EqualTo(ids[At(1, 1, 2)]));
        Assert.That(ids[At(2, 2, 3)], Is.Not.EqualTo(ids[At(1, 1, 2)]));
        var largest = LabelOps.LargestComponent(mask, Dims);
        Assert.That(largest.Count(b => b), Is.EqualTo(3));
        Assert.That(largest[At(5, 6, 5)], Is.True);
    }

    [Test]
    public void PostProcessKeepsTheLargestLiverAndDropsTumoursOutsideIt()
    {
        var labels = Volume(
            (1, 5, 2, 8, 2, 8, 1),   // the liver
            (2, 4, 3, 5, 3, 5, 2),   // a tumour inside it
            (2, 3, 2, 3, 7, 8, 2),   // a tumour on its edge (part of the organ component)
            (0, 1, 0, 2, 10, 12, 1), // a small false liver elsewhere
            (5, 6, 9, 10, 0, 1, 2)); // a tumour far from the liver
        // A tumour voxel one voxel outside the liver, not face-connected to it (diagonal): kept by the dilation.
        labels[At(0, 1, 1)] = 2;
        var result = LabelOps.PostProcess(labels, Dims, tumourDilation: 1);
        Assert.That(result[At(3, 4, 4)], Is.EqualTo(2), "tumour inside");
        Assert.That(result[At(2, 2, 7)], Is.EqualTo(2), "tumour on the edge");
        Assert.That(result[At(2, 6, 6)], Is.EqualTo(1), "liver");
        Assert.That(result[At(0, 0, 10)], Is.EqualTo(0), "small false liver removed");
        Assert.That(result[At(5, 9, 0)], Is.EqualTo(0), "far tumour removed");
        Assert.That(result[At(0, 1, 1)], Is.EqualTo(0), "diagonal voxel is 2 steps of the cross away");
        var expectedLiver = Volume((1, 5, 2, 8, 2, 8, 1));
        Assert.That(Enumerable.Range(0, result.Length).All(i => (result[i] >= 1) == (expectedLiver[i] >= 1)), Is.True);
    }

    [Test]
    public void TumourDilationKeepsNearbyTumourVoxelsOnly()
    {
        var labels = Volume((1, 5, 2, 8, 2, 8, 1));
        labels[At(0, 1, 2)] = 2; // two cross steps from the liver voxel (1, 2, 2), not touching it
        labels[At(0, 1, 1)] = 2; // three steps (diagonal in z, y and x)
        Assert.That(LabelOps.PostProcess(labels, Dims, 1)[At(0, 1, 2)], Is.EqualTo(0));
        var two = LabelOps.PostProcess(labels, Dims, 2);
        Assert.That(two[At(0, 1, 2)], Is.EqualTo(2));
        Assert.That(two[At(0, 1, 1)], Is.EqualTo(0));
        Assert.That(LabelOps.PostProcess(labels, Dims, 3)[At(0, 1, 1)], Is.EqualTo(2));
    }

    [Test]
    public void PostProcessOfAnEmptyPredictionIsEmpty()
    {
        var labels = new byte[Dims[0] * Dims[1] * Dims[2]];
        Assert.That(LabelOps.PostProcess(labels, Dims).All(v => v == 0), Is.True);
    }

    [Test]
    public void BoundingBoxGrowsByTheMarginAndClips()
    {
        var liver = Volume((1, 3, 4, 6, 0, 5, 1)).Select(v => v >= 1).ToArray();
        var box = LabelOps.BoundingBox(liver, Dims, [2, 1, 3]);
        Assert.That(box, Is.EqualTo(new Box3(0, 3, 0, 5, 4, 8)));
        Assert.That(LabelOps.BoundingBox(new bool[liver.Length], Dims, [1, 1, 1]).IsEmpty, Is.True);
        var values = Enumerable.Range(0, liver.Length).Select(i => (float)i).ToArray();
        var crop = LabelOps.Crop(values, Dims, box);
        Assert.That(crop[0], Is.EqualTo(At(0, 3, 0)));
        Assert.That(crop[^1], Is.EqualTo(At(4, 6, 7)));
    }

    [Test]
    public void ResizeNearestFollowsTorchsIndexRule()
    {
        var small = new byte[] { 1, 2, 3, 4, 5, 6 }; // [1, 2, 3]
        var big = LabelOps.ResizeNearest(small, [1, 2, 3], [2, 4, 6]);
        Assert.That(big.Take(6), Is.EqualTo(new byte[] { 1, 1, 2, 2, 3, 3 }));
        Assert.That(big.Skip(18).Take(6), Is.EqualTo(new byte[] { 4, 4, 5, 5, 6, 6 }));
    }

    [Test]
    public void CascadeSegmentsTumoursOnlyInsideTheLiverBox()
    {
        var reference = Volume((1, 5, 2, 8, 2, 8, 1), (2, 4, 4, 6, 4, 6, 2));
        var image = reference.Select(v => (float)v).ToArray();
        int tumourCalls = 0;
        int[]? seenBox = null;
        // Stage 1 sees the downsampled image (a liver mask from intensity, plus a false blob);
        // stage 2 calls a tumour wherever the image is 2 and marks everything else liver.
        byte[] LiverStage(float[] img, int[] dims)
        {
            Assert.That(dims, Is.EqualTo(new[] { 3, 5, 6 }));
            var l = img.Select(v => v >= 0.5f ? (byte)1 : (byte)0).ToArray();
            l[0] = 1; // a false positive at the corner, removed as a smaller component
            return l;
        }
        byte[] TumourStage(float[] img, int[] dims)
        {
            tumourCalls++;
            seenBox = dims;
            return img.Select(v => v >= 1.5f ? (byte)2 : v >= 0.5f ? (byte)1 : (byte)0).ToArray();
        }
        var cascade = new Cascade(LiverStage, TumourStage, downsample: 2, margin: [1, 1, 1]);
        var result = cascade.Segment(image, Dims);
        Assert.That(tumourCalls, Is.EqualTo(1));
        Assert.That(seenBox, Is.EqualTo(new[] { 6, 8, 8 }), "liver box [1,5)×[2,8)×[2,8) plus 1, clipped");
        Assert.That(LabelOps.Dice(result, reference, 1), Is.EqualTo(1.0));
        Assert.That(LabelOps.Dice(result, reference, 2, exact: true), Is.EqualTo(1.0));
        Assert.That(result[0], Is.EqualTo(0));
    }

    [Test]
    public void CascadeWithoutALiverSkipsStageTwo()
    {
        var cascade = new Cascade((img, d) => new byte[img.Length], (img, d) => throw new AssertionException("stage 2 must not run"));
        Assert.That(cascade.Segment(new float[Dims[0] * Dims[1] * Dims[2]], Dims).All(v => v == 0), Is.True);
    }

    [Test]
    public void DiceCountsLiverAsLabelAtLeastOne()
    {
        byte[] p = [0, 1, 2, 2, 0];
        byte[] r = [0, 2, 2, 1, 1];
        Assert.That(LabelOps.Dice(p, r, 1), Is.EqualTo(2.0 * 3 / (3 + 4)));
        Assert.That(LabelOps.Dice(p, r, 2, exact: true), Is.EqualTo(2.0 * 1 / (2 + 2)));
        Assert.That(LabelOps.Dice([0, 1], [0, 1], 2, exact: true), Is.EqualTo(1.0));
    }
}

public class CascadeCheckpointTests
{
    [Test]
    public void ACascadeCheckpointLoadsAndSegments()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cascade-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var lc = new UNetConfig { Classes = 2, BaseWidth = 2, Depth = 1 };
            var tc = new UNetConfig { Dims = 2, InChannels = 3, BaseWidth = 2, Depth = 1 };
            using var nets = new CascadeNets(new UNet(lc), new UNet(tc));
            var meta = CascadeNets.Metadata(UNetMode.Unet3d, [4, 4, 4], lc, UNetMode.Unet25d, [8, 8], tc, 2, [1, 2, 2], 2, context: 1);
            foreach (var (k, v) in new HuWindow().ToMetadata()) meta[k] = v;
            var path = Path.Combine(dir, "cascade.safetensors");
            new Kernels.Nets.Training.TrainingRun(nets).Save(path, meta);
            using var seg = LoadedSegmenter.Load(path, Device.Cpu);
            Assert.That(seg.Kind, Is.EqualTo("cascade"));
            var hu = Enumerable.Range(0, 6 * 10 * 12).Select(i => (float)(i % 300 - 100)).ToArray();
            var labels = seg.SegmentHu(hu, [6, 10, 12]);
            Assert.That(labels, Has.Length.EqualTo(hu.Length));
            Assert.That(labels.All(v => v <= 2), Is.True);
            // Whatever the untrained nets say, the result is post-processed: at most one liver component.
            var organ = labels.Select(v => v >= 1).ToArray();
            Assert.That(LabelOps.Components(organ, [6, 10, 12]).Sizes.Count, Is.LessThanOrEqualTo(2));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
