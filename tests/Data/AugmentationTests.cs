using Kernels.Nets;
using Kernels.Nets.Data;

namespace Kernels.Tests.Data;

public class AugmentationTests
{
    private static float[] Images(int n, int size, ulong seed)
    {
        var rng = new Rng(seed);
        var x = new float[n * 3 * size * size];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextDouble();
        return x;
    }

    [Test]
    public void SameSeedSameImagesAndRangeKept()
    {
        var aug = new ImageAugmenter(AugmentationOptions.Recipe with { RandAugmentOps = 3 });
        var a = Images(8, 20, 1);
        var b = (float[])a.Clone();
        var c = (float[])a.Clone();
        aug.ApplyBatch(a, 8, 20, new Rng(5));
        aug.ApplyBatch(b, 8, 20, new Rng(5));
        aug.ApplyBatch(c, 8, 20, new Rng(6));
        Assert.That(b, Is.EqualTo(a));
        Assert.That(c, Is.Not.EqualTo(a));
        Assert.That(a, Has.Length.EqualTo(8 * 3 * 20 * 20));
        Assert.That(a, Is.All.InRange(0f, 1f));
    }

    [Test]
    public void EveryOpKeepsShapeAndRange()
    {
        for (int op = 0; op < AugmentationOptions.RandAugmentOpNames.Length; op++)
            foreach (double m in new[] { 0.0, 0.5, 1.0 })
            {
                var img = Images(1, 17, (ulong)(op + 1));
                var before = (float[])img.Clone();
                ImageAugmenter.ApplyOp(op, m, img, 17, new Rng(2));
                Assert.That(img, Is.All.InRange(0f, 1f), $"{AugmentationOptions.RandAugmentOpNames[op]} m={m}");
                string name = AugmentationOptions.RandAugmentOpNames[op];
                if (name is "flip" or "autocontrast" || (m > 0 && name != "identity"))
                    Assert.That(img, Is.Not.EqualTo(before), $"{name} m={m} changed nothing");
                if (name == "identity") Assert.That(img, Is.EqualTo(before));
            }
    }

    [Test]
    public void FlipMirrorsRowsAndSolarizeInvertsBrightPixels()
    {
        var img = Images(1, 5, 3);
        var flipped = (float[])img.Clone();
        ImageAugmenter.ApplyOp(3, 0, flipped, 5, new Rng(1));
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 5; x++)
                    Assert.That(flipped[ch * 25 + y * 5 + x], Is.EqualTo(img[ch * 25 + y * 5 + 4 - x]));
        var sol = (float[])img.Clone();
        ImageAugmenter.ApplyOp(8, 0.4, sol, 5, new Rng(1)); // threshold 0.6
        for (int i = 0; i < img.Length; i++)
            Assert.That(sol[i], Is.EqualTo(img[i] >= 0.6f ? 1f - img[i] : img[i]));
    }

    [Test]
    public void CutoutFillsOneBoxOfHalfTheSide()
    {
        int s = 24, plane = s * s;
        var img = new float[3 * plane];
        Array.Fill(img, 0.123f);
        ImageAugmenter.Cutout(img, s, new Rng(9), 0.5, randomFill: false);
        int changed = 0, x0 = s, x1 = -1, y0 = s, y1 = -1;
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++)
                if (img[y * s + x] != 0.123f)
                {
                    Assert.That(img[y * s + x], Is.EqualTo(0.5f));
                    Assert.That(img[plane + y * s + x], Is.EqualTo(0.5f));
                    changed++;
                    x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
                }
        Assert.That(changed, Is.GreaterThan(0));
        Assert.That(changed, Is.EqualTo((x1 - x0 + 1) * (y1 - y0 + 1)), "one rectangle");
        Assert.That(x1 - x0 + 1, Is.LessThanOrEqualTo(12));
        Assert.That(y1 - y0 + 1, Is.LessThanOrEqualTo(12));
    }

    [Test]
    public void OptionsParseAndSwitchOff()
    {
        Assert.That(AugmentationOptions.Parse("none").Any, Is.False);
        Assert.That(AugmentationOptions.Parse("cutout"), Is.EqualTo(AugmentationOptions.None with { Cutout = true }));
        Assert.That(AugmentationOptions.Parse("cutout+randaugment"), Is.EqualTo(AugmentationOptions.Recipe));
        Assert.That(AugmentationOptions.Parse("recipe").ToString(), Is.EqualTo("cutout+randaugment"));
        Assert.Throws<ArgumentException>(() => AugmentationOptions.Parse("mixup"));
        Assert.Throws<ArgumentException>(() => new ImageAugmenter(AugmentationOptions.Recipe with { RandAugmentMagnitude = 11 }));
        var img = Images(2, 8, 4);
        var before = (float[])img.Clone();
        new ImageAugmenter(AugmentationOptions.None).ApplyBatch(img, 2, 8, new Rng(1));
        Assert.That(img, Is.EqualTo(before), "none leaves images alone");
    }

    [Test]
    public void SyntheticTrainBatchAugmentsOnlyWhenAsked()
    {
        var plain = new SyntheticMultiLabel(classes: 6, size: 16);
        var aug = new SyntheticMultiLabel(classes: 6, size: 16) { Augmentation = AugmentationOptions.Recipe };
        var p = plain.TrainBatch(4, new Rng(2));
        var a = aug.TrainBatch(4, new Rng(2));
        Assert.That(a.Targets, Is.EqualTo(p.Targets));
        Assert.That(a.Images, Is.Not.EqualTo(p.Images));
        Assert.That(aug.ValidationBatch(0, 4).Images, Is.EqualTo(plain.ValidationBatch(0, 4).Images), "validation is never augmented");
    }
}
