using System.Text.Json.Nodes;
using Kernels.Nets;
using Kernels.Nets.Data.Lits;
using Kernels.Nets.Data.Nifti;

namespace Kernels.Tests.Lits;

/// <summary>HU windowing and z-score, resampling (trilinear against scipy.ndimage, nearest keeping
/// label values, affine consistency) and patch sampling with augmentation.</summary>
public class PreprocessTests
{
    [Test]
    public void WindowMapsTheLitsWindowToUnitRange()
    {
        float[] hu = [-1000, -200, 25, 250, 700];
        var w = Intensity.Windowed(hu);
        Assert.That(w, Is.EqualTo(new[] { 0f, 0f, 0.5f, 1f, 1f }).Within(1e-6f));
        Assert.That(hu[0], Is.EqualTo(-1000f), "Windowed leaves the input alone");
        Assert.Throws<ArgumentException>(() => Intensity.Window(hu, 10, 10));
    }

    [Test]
    public void ZScoreOverAMask()
    {
        float[] v = [1, 2, 3, 100, -50];
        byte[] mask = [1, 1, 1, 0, 0];
        var (mean, std) = Intensity.ZScore(v, mask);
        Assert.That(mean, Is.EqualTo(2).Within(1e-9));
        Assert.That(std, Is.EqualTo(Math.Sqrt(2.0 / 3)).Within(1e-9));
        Assert.That(v[0], Is.EqualTo(-1 / (float)Math.Sqrt(2.0 / 3)).Within(1e-5f));
        Assert.That(v[1], Is.EqualTo(0f).Within(1e-6f));
        float[] w = [-1000, 0, 10, 2000];
        Intensity.ZScore(w, default, -200, 250);
        Assert.That(w.Average(), Is.EqualTo(0).Within(1e-5));
        Assert.That(Math.Sqrt(w.Select(x => (double)x * x).Average()), Is.EqualTo(1).Within(1e-5));
        Assert.Throws<ArgumentException>(() => Intensity.ZScore(new float[2], new byte[2]));
    }

    [Test]
    public void TrilinearMatchesScipy()
    {
        var path = Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors", "nifti", "resample.json");
        foreach (var c in JsonNode.Parse(File.ReadAllText(path))!.AsArray())
        {
            var s = c!["src_shape"]!.AsArray().Select(v => v!.GetValue<int>()).ToArray();
            var d = c["dst_shape"]!.AsArray().Select(v => v!.GetValue<int>()).ToArray();
            var input = c["input"]!.AsArray().Select(v => (float)v!.GetValue<double>()).ToArray();
            var expected = c["expected"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            var output = Resampling.Linear(input, (s[0], s[1], s[2]), (d[0], d[1], d[2]));
            Assert.That(output.Length, Is.EqualTo(expected.Length));
            for (int i = 0; i < output.Length; i++)
                Assert.That(output[i], Is.EqualTo(expected[i]).Within(1e-3), $"{string.Join(",", s)} → {string.Join(",", d)}: voxel {i}");
        }
    }

    [Test]
    public void NearestKeepsLabelValuesAndInvertsAnIntegerUpsampling()
    {
        var rng = new Rng(3);
        var shape = (X: 7, Y: 5, Z: 4);
        var labels = new byte[7 * 5 * 4];
        for (int i = 0; i < labels.Length; i++) labels[i] = (byte)(rng.NextInt(3) * 3); // 0, 3, 6
        var up = Resampling.Nearest<byte>(labels, shape, (14, 15, 8));
        Assert.That(up.Distinct().Order(), Is.SubsetOf(new byte[] { 0, 3, 6 }));
        var down = Resampling.Nearest<byte>(up, (14, 15, 8), shape);
        Assert.That(down, Is.EqualTo(labels));
        // Downsampling by any factor only ever picks existing values.
        var odd = Resampling.Nearest<byte>(labels, shape, (3, 4, 3));
        Assert.That(odd.All(v => v is 0 or 3 or 6), Is.True);
    }

    [Test]
    public void LinearReproducesALinearFunctionInside()
    {
        var shape = (X: 9, Y: 8, Z: 6);
        var v = new float[9 * 8 * 6];
        for (int k = 0; k < 6; k++)
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < 9; i++) v[i + 9 * (j + 8 * k)] = 2 * i - 3 * j + 5 * k + 1;
        var dst = (X: 13, Y: 5, Z: 11);
        var o = Resampling.Linear(v, shape, dst);
        for (int k = 0; k < dst.Z; k++)
            for (int j = 0; j < dst.Y; j++)
                for (int i = 0; i < dst.X; i++)
                {
                    double x = Resampling.Source(i, 9, dst.X), y = Resampling.Source(j, 8, dst.Y), z = Resampling.Source(k, 6, dst.Z);
                    Assert.That(o[i + dst.X * (j + dst.Y * k)], Is.EqualTo(2 * x - 3 * y + 5 * z + 1).Within(1e-4));
                }
    }

    private static (double X, double Y, double Z) World(double[,] a, double i, double j, double k) =>
        (a[0, 0] * i + a[0, 1] * j + a[0, 2] * k + a[0, 3],
         a[1, 0] * i + a[1, 1] * j + a[1, 2] * k + a[1, 3],
         a[2, 0] * i + a[2, 1] * j + a[2, 2] * k + a[2, 3]);

    [Test]
    public void ResamplingToASpacingKeepsTheAffineConsistent()
    {
        var img = NiftiReader.Read(Path.Combine(TestContext.CurrentContext.TestDirectory, "Vectors", "nifti", "float32_le.nii"));
        var labels = img.With(img.Data.Select(v => (byte)(v > 0 ? 1 : 0)).ToArray());
        var target = (0.4, 0.5, 1.0);
        var r = Resampling.ToSpacing(img, target);
        var rl = Resampling.LabelsToSpacing(labels, target);
        Assert.That(r.Shape, Is.EqualTo(Resampling.ShapeFor(img.Shape, img.Spacing, target)));
        Assert.That(r.Shape, Is.EqualTo((10, 6, 8)));
        Assert.That(rl.Shape, Is.EqualTo(r.Shape));
        Assert.That(rl.Data.All(v => v <= 1), Is.True);
        Assert.That(r.Spacing.X, Is.EqualTo(img.Spacing.X * 5 / 10).Within(1e-6));
        Assert.That(r.Spacing.Z, Is.EqualTo(img.Spacing.Z * 3 / 8).Within(1e-6));
        // Every output voxel sits, in world space, where the input coordinate it samples sits.
        var a0 = img.Affine;
        var a1 = r.Affine;
        foreach (var (i, j, k) in new[] { (0, 0, 0), (9, 5, 7), (3, 2, 5) })
        {
            double si = (i + 0.5) * 5 / 10 - 0.5, sj = (j + 0.5) * 4 / 6.0 - 0.5, sk = (k + 0.5) * 3 / 8.0 - 0.5;
            var w0 = World(a0, si, sj, sk);
            var w1 = World(a1, i, j, k);
            Assert.That(w1.X, Is.EqualTo(w0.X).Within(1e-3));
            Assert.That(w1.Y, Is.EqualTo(w0.Y).Within(1e-3));
            Assert.That(w1.Z, Is.EqualTo(w0.Z).Within(1e-3));
        }
        // The header written with it carries the same affine through a file.
        var tmp = Path.Combine(Path.GetTempPath(), $"resampled-{Guid.NewGuid():N}.nii.gz");
        try
        {
            NiftiWriter.Write(tmp, r, NiftiDataType.Float32);
            var back = NiftiReader.Read(tmp);
            for (int p = 0; p < 3; p++)
                for (int q = 0; q < 4; q++)
                    Assert.That(back.Affine[p, q], Is.EqualTo(a1[p, q]).Within(1e-4));
            Assert.That(back.Header.QFormAffine()[0, 0], Is.EqualTo(a1[0, 0]).Within(1e-4), "the qform follows the sform");
        }
        finally
        {
            File.Delete(tmp);
        }
    }

    private static TrainingVolume Volume((int X, int Y, int Z) shape, Func<int, int, int, byte> label)
    {
        var img = new float[shape.X * shape.Y * shape.Z];
        var lab = new byte[img.Length];
        for (int k = 0; k < shape.Z; k++)
            for (int j = 0; j < shape.Y; j++)
                for (int i = 0; i < shape.X; i++)
                {
                    int v = i + shape.X * (j + shape.Y * k);
                    lab[v] = label(i, j, k);
                    img[v] = 0.01f * i + 0.1f * j + k + 0.5f * lab[v];
                }
        return new TrainingVolume(img, lab, shape);
    }

    private static readonly LitsPatchOptions Plain = new()
    {
        Size = (8, 6, 4), FlipProbability = (0, 0, 0), RotationProbability = 0, IntensityProbability = 0,
    };

    [Test]
    public void PatchesHaveTheirShapeAndComeFromTheVolume()
    {
        var vol = Volume((20, 15, 10), (i, j, k) => (byte)(i > 15 && j > 10 ? 1 : 0));
        var sampler = new LitsPatchSampler(Plain);
        var rng = new Rng(1);
        for (int n = 0; n < 20; n++)
        {
            var p = sampler.Sample(vol, rng);
            Assert.That(p.Image.Length, Is.EqualTo(8 * 6 * 4));
            Assert.That(p.Labels.Length, Is.EqualTo(8 * 6 * 4));
            // Without augmentation a patch is an exact crop: patch voxel (0,0,0) is volume (c − (size−1)/2).
            int x0 = p.Centre.X - 3, y0 = p.Centre.Y - 2, z0 = p.Centre.Z - 1;
            Assert.That(x0 >= 0 && y0 >= 0 && z0 >= 0 && x0 + 8 <= 20 && y0 + 6 <= 15 && z0 + 4 <= 10, Is.True, "inside the volume");
            for (int k = 0; k < 4; k++)
                for (int j = 0; j < 6; j++)
                    for (int i = 0; i < 8; i++)
                    {
                        int s = x0 + i + 20 * (y0 + j + 15 * (z0 + k));
                        Assert.That(p.Image[i + 8 * (j + 6 * k)], Is.EqualTo(vol.Image[s]));
                        Assert.That(p.Labels[i + 8 * (j + 6 * k)], Is.EqualTo(vol.Labels[s]));
                    }
        }
    }

    [Test]
    public void ForegroundOversamplingCentresOnForegroundAndLesions()
    {
        // One lesion voxel in a corner and a small liver block: uniform patches rarely see them.
        var vol = Volume((40, 40, 20), (i, j, k) => i == 37 && j == 2 && k == 18 ? (byte)2 : i < 4 && j < 4 && k < 3 ? (byte)1 : (byte)0);
        var all = new LitsPatchSampler(Plain with { ForegroundFraction = 1, LesionFraction = 1 });
        var rng = new Rng(2);
        for (int n = 0; n < 20; n++)
        {
            var p = all.Sample(vol, rng);
            Assert.That(p.ForegroundCentred, Is.True);
            Assert.That(p.Labels.Count(l => l == 2), Is.EqualTo(1), "every patch holds the lesion");
        }
        var liverOnly = new LitsPatchSampler(Plain with { ForegroundFraction = 1, LesionFraction = 0 });
        for (int n = 0; n < 20; n++)
            Assert.That(liverOnly.Sample(vol, rng).Labels.Any(l => l == 1), Is.True);
        var third = new LitsPatchSampler(Plain with { ForegroundFraction = 1.0 / 3 });
        int centred = 0, withForeground = 0;
        for (int n = 0; n < 300; n++)
        {
            var p = third.Sample(vol, rng);
            if (p.ForegroundCentred) centred++;
            if (p.Labels.Any(l => l >= 1)) withForeground++;
        }
        Assert.That(centred, Is.InRange(70, 130), "about a third centred on foreground");
        Assert.That(withForeground, Is.GreaterThanOrEqualTo(centred));
        var none = new LitsPatchSampler(Plain with { ForegroundFraction = 0 });
        Assert.That(Enumerable.Range(0, 50).Count(_ => none.Sample(vol, rng).ForegroundCentred), Is.Zero);
    }

    [Test]
    public void AVolumeSmallerThanThePatchIsPadded()
    {
        var vol = Volume((4, 3, 2), (i, j, k) => 1);
        var p = new LitsPatchSampler(Plain with { PadValue = -7 }).Sample(vol, new Rng(1));
        Assert.That(p.Image.Count(v => v == -7), Is.EqualTo(8 * 6 * 4 - 4 * 3 * 2));
        Assert.That(p.Labels.Count(l => l == 1), Is.EqualTo(4 * 3 * 2));
    }

    [Test]
    public void FlipsMirrorTheSameCrop()
    {
        var vol = Volume((20, 15, 10), (i, j, k) => (byte)((i + j + k) % 3));
        var plain = new LitsPatchSampler(Plain).Sample(vol, new Rng(9));
        var flipped = new LitsPatchSampler(Plain with { FlipProbability = (1, 0, 1) }).Sample(vol, new Rng(9));
        Assert.That(flipped.Centre, Is.EqualTo(plain.Centre), "the same draws pick the same crop");
        Assert.That(flipped.Flipped, Is.EqualTo((true, false, true)));
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 6; j++)
                for (int i = 0; i < 8; i++)
                {
                    int d = i + 8 * (j + 6 * k), s = 7 - i + 8 * (j + 6 * (3 - k));
                    Assert.That(flipped.Image[d], Is.EqualTo(plain.Image[s]));
                    Assert.That(flipped.Labels[d], Is.EqualTo(plain.Labels[s]));
                }
    }

    [Test]
    public void RotationByNinetyDegreesIsATranspose()
    {
        var vol = Volume((20, 20, 10), (i, j, k) => (byte)((i * 7 + j * 3 + k) % 3));
        var opts = Plain with { Size = (8, 8, 4) };
        var plain = new LitsPatchSampler(opts).Sample(vol, new Rng(4));
        var rot = new LitsPatchSampler(opts with { RotationProbability = 1, RotationDegrees = (90, 90) }).Sample(vol, new Rng(4));
        Assert.That(rot.Centre, Is.EqualTo(plain.Centre));
        Assert.That(rot.RotationDegrees, Is.EqualTo(90));
        // Output (i, j) samples the crop at centre + R(90°)·(p − centre) = (h − (j − h), h + (i − h)) = (7 − j, i).
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 8; j++)
                for (int i = 0; i < 8; i++)
                {
                    int d = i + 8 * (j + 8 * k), s = 7 - j + 8 * (i + 8 * k);
                    Assert.That(rot.Labels[d], Is.EqualTo(plain.Labels[s]), $"label ({i},{j},{k})");
                    Assert.That(rot.Image[d], Is.EqualTo(plain.Image[s]).Within(1e-4), $"image ({i},{j},{k})");
                }
    }

    [Test]
    public void SmallRotationsKeepLabelValuesAndInterpolateTheImage()
    {
        var vol = Volume((30, 30, 8), (i, j, k) => (byte)(i > 15 ? 2 : j > 15 ? 1 : 0));
        var s = new LitsPatchSampler(Plain with { Size = (16, 16, 4), RotationProbability = 1, RotationDegrees = (-15, 15) });
        var rng = new Rng(6);
        for (int n = 0; n < 10; n++)
        {
            var p = s.Sample(vol, rng);
            Assert.That(p.RotationDegrees, Is.InRange(-15.0, 15.0));
            Assert.That(p.Labels.All(l => l <= 2), Is.True);
            // The image is a convex combination of neighbours: within the volume's value range.
            Assert.That(p.Image.Min(), Is.GreaterThanOrEqualTo(Math.Min(0, vol.Image.Min()) - 1e-4));
            Assert.That(p.Image.Max(), Is.LessThanOrEqualTo(vol.Image.Max() + 1e-4));
        }
    }

    [Test]
    public void IntensityAugmentationScalesShiftsAndAddsNoise()
    {
        var vol = Volume((20, 15, 10), (i, j, k) => 0);
        var plain = new LitsPatchSampler(Plain).Sample(vol, new Rng(5));
        var aug = new LitsPatchSampler(Plain with { IntensityProbability = 1, Scale = (2, 2), Shift = (0.25, 0.25), NoiseStd = (0, 0) }).Sample(vol, new Rng(5));
        for (int i = 0; i < plain.Image.Length; i++) Assert.That(aug.Image[i], Is.EqualTo(2 * plain.Image[i] + 0.25f).Within(1e-5));
        var noisy = new LitsPatchSampler(Plain with { IntensityProbability = 1, Scale = (1, 1), Shift = (0, 0), NoiseStd = (0.1, 0.1) }).Sample(vol, new Rng(5));
        var diff = noisy.Image.Zip(plain.Image, (a, b) => (double)a - b).ToArray();
        double std = Math.Sqrt(diff.Select(d => d * d).Average());
        Assert.That(std, Is.InRange(0.08, 0.12));
        Assert.That(noisy.Labels, Is.EqualTo(plain.Labels), "labels untouched");
    }

    [Test]
    public void SameRngSameBatch()
    {
        var vols = new[] { Volume((20, 15, 10), (i, j, k) => (byte)(i > 10 ? 1 : 0)), Volume((12, 12, 12), (i, j, k) => (byte)(k > 6 ? 2 : 1)) };
        var s = new LitsPatchSampler(new LitsPatchOptions { Size = (8, 8, 8), RotationProbability = 0.5, IntensityProbability = 0.5 });
        var a = s.Batch(vols, 4, new Rng(8));
        var b = s.Batch(vols, 4, new Rng(8));
        var c = s.Batch(vols, 4, new Rng(9));
        Assert.That(a.Images.Length, Is.EqualTo(4 * 512));
        Assert.That(b.Images, Is.EqualTo(a.Images));
        Assert.That(b.Labels, Is.EqualTo(a.Labels));
        Assert.That(c.Images, Is.Not.EqualTo(a.Images));
    }

    [Test]
    public void BadOptionsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new LitsPatchSampler(new LitsPatchOptions { Size = (0, 4, 4) }));
        Assert.Throws<ArgumentException>(() => new LitsPatchSampler(new LitsPatchOptions { ForegroundFraction = 1.5 }));
        Assert.Throws<ArgumentException>(() => new LitsPatchSampler(new LitsPatchOptions { Scale = (1.2, 0.8) }));
        Assert.Throws<ArgumentException>(() => new TrainingVolume(new float[5], new byte[6], (5, 1, 1)));
        Assert.Throws<ArgumentException>(() => Resampling.Linear(new float[5], (2, 2, 2), (1, 1, 1)));
        Assert.Throws<ArgumentException>(() => Resampling.ShapeFor((2, 2, 2), (1, 1, 1), (0, 1, 1)));
    }
}

/// <summary>LitsDataset: folders and in-memory phantoms, prepared (resampled, windowed).</summary>
public class PreprocessDatasetTests : Kernels.Tests.IO.TempFolderTest
{
    private static readonly PhantomOptions Tiny = new() { X = 32, Y = 32, Z = 16 };

    [Test]
    public void PhantomsInMemoryMatchTheWrittenFolder()
    {
        PhantomGenerator.WriteSet(Dir, 2, 3, Tiny, gzip: true);
        var fromDisk = LitsDataset.Load(Dir).ToList();
        var inMemory = LitsDataset.Phantoms(2, 3, Tiny).ToList();
        Assert.That(fromDisk.Select(v => v.Id), Is.EqualTo(new[] { "0", "1" }));
        for (int c = 0; c < 2; c++)
        {
            Assert.That(fromDisk[c].Labels, Is.EqualTo(inMemory[c].Labels));
            Assert.That(fromDisk[c].Shape, Is.EqualTo((32, 32, 16)));
            Assert.That(fromDisk[c].Image.Min(), Is.GreaterThanOrEqualTo(0f));
            Assert.That(fromDisk[c].Image.Max(), Is.LessThanOrEqualTo(1f));
            // The files hold HU rounded to int16; in memory they are not rounded: 1/450 per HU apart at most.
            for (int i = 0; i < fromDisk[c].Image.Length; i++)
                Assert.That(fromDisk[c].Image[i], Is.EqualTo(inMemory[c].Image[i]).Within(0.51 / 450 + 1e-6));
        }
    }

    [Test]
    public void ResampledAndZScoredPhantoms()
    {
        var v = LitsDataset.Phantoms(1, 5, Tiny, new LitsPrepareOptions { TargetSpacing = (8, 8, 8), ZScore = true }).Single();
        var raw = PhantomGenerator.Generate(Tiny, 5, 0);
        Assert.That(v.Shape, Is.EqualTo(Resampling.ShapeFor(raw.Shape, raw.Spacing, (8, 8, 8))));
        Assert.That(v.Labels.Length, Is.EqualTo(v.Shape.X * v.Shape.Y * v.Shape.Z));
        Assert.That(v.Labels.All(l => l <= 2), Is.True);
        Assert.That(v.Labels.Any(l => l == 1), Is.True);
        Assert.That(v.Spacing.X, Is.EqualTo(raw.Spacing.X * 32 / v.Shape.X).Within(1e-5));
        Assert.That(v.Image.Average(), Is.Not.InRange(-0.01, 0.01), "z-scored over the body, not the air around it");
        var t = v.ToTrainingVolume();
        Assert.That(t.Foreground.Length, Is.EqualTo(v.Labels.Count(l => l >= 1)));
    }

    [Test]
    public void ALabelAboveTwoIsRefused()
    {
        PhantomGenerator.WriteSet(Dir, 1, 3, Tiny);
        var seg = NiftiReader.ReadLabels(PathOf("segmentation-0.nii"));
        seg.Data[5] = 7;
        NiftiWriter.Write(PathOf("segmentation-0.nii"), seg, NiftiDataType.UInt8);
        var ex = Assert.Throws<InvalidDataException>(() => LitsDataset.Load(Dir).ToList())!;
        Assert.That(ex.Message, Does.Contain("segmentation-0.nii").And.Contain("label 7"));
    }
}
