using Kernels.Nets;
using Kernels.Nets.Data;

namespace Kernels.Tests.Data;

public class SyntheticMultiLabelTests
{
    /// <summary>Pixels of an image [3, S, S] whose hue matches <paramref name="rgb"/>: bright
    /// (max channel ≥ 0.5) and, normalised by the max channel, within 0.2 of the colour normalised
    /// the same way. Clutter and background are low-saturation, so they never match.</summary>
    private static int CountColour(ReadOnlySpan<float> image, int size, ReadOnlySpan<float> rgb)
    {
        int plane = size * size, count = 0;
        float cm = MathF.Max(rgb[0], MathF.Max(rgb[1], rgb[2]));
        for (int p = 0; p < plane; p++)
        {
            float r = image[p], g = image[plane + p], b = image[2 * plane + p];
            float m = MathF.Max(r, MathF.Max(g, b));
            if (m < 0.5f) continue;
            if (MathF.Abs(r / m - rgb[0] / cm) < 0.2f && MathF.Abs(g / m - rgb[1] / cm) < 0.2f && MathF.Abs(b / m - rgb[2] / cm) < 0.2f)
                count++;
        }
        return count;
    }

    [Test]
    public void SameSeedSameData()
    {
        var gen = new SyntheticMultiLabel(classes: 20, size: 32);
        var a = gen.Generate(12, new Rng(7));
        var b = gen.Generate(12, new Rng(7));
        var c = gen.Generate(12, new Rng(8));
        Assert.That(b.Images, Is.EqualTo(a.Images));
        Assert.That(b.Targets, Is.EqualTo(a.Targets));
        Assert.That(c.Images, Is.Not.EqualTo(a.Images));
    }

    [Test]
    public void ShapesAndValueRange()
    {
        var gen = new SyntheticMultiLabel(classes: 13, size: 24);
        var b = gen.Generate(9, new Rng(1));
        Assert.That(b.Images, Has.Length.EqualTo(9 * 3 * 24 * 24));
        Assert.That(b.Targets, Has.Length.EqualTo(9 * 13));
        Assert.That(b.Images.All(v => v >= 0f && v <= 1f), "pixels in [0, 1]");
        Assert.That(b.Targets.All(v => v == 0f || v == 1f), "targets are multi-hot");
        using var scope = TensorScope.Begin();
        var (images, targets) = gen.Batch(3, new Rng(2));
        Assert.That(images.Shape.ToArray(), Is.EqualTo(new[] { 3, 3, 24, 24 }));
        Assert.That(targets.Shape.ToArray(), Is.EqualTo(new[] { 3, 13 }));
        Assert.That(images.DType, Is.EqualTo(DType.F32));
    }

    [Test]
    public void LabelStatisticsShowImbalanceAndCoOccurrence()
    {
        const int n = 3000, classes = 20;
        var gen = new SyntheticMultiLabel(classes, size: 32, noise: 0); // only the labels matter here
        var b = gen.Generate(n, new Rng(11));
        var count = new int[classes];
        int together = 0;
        double labels = 0;
        for (int i = 0; i < n; i++)
        {
            int perImage = 0;
            for (int c = 0; c < classes; c++)
                if (b.Targets[i * classes + c] > 0) { count[c]++; perImage++; }
            Assert.That(perImage, Is.InRange(1, gen.MaxObjects), $"image {i}");
            labels += perImage;
            if (b.Targets[i * classes] > 0 && b.Targets[i * classes + 10] > 0) together++;
        }
        Assert.That(count, Is.All.GreaterThan(0), "every class appears");
        Assert.That(labels / n, Is.InRange(1.8, 3.5), "labels per image");
        // Zipf: among classes with no partner (5..9, 15..19), frequency falls with the index.
        Assert.That(gen.CoOccurringPairs, Does.Contain((0, 10)));
        Assert.That(count[5], Is.GreaterThan(1.5 * count[19]), string.Join(" ", count));
        Assert.That(count[0], Is.GreaterThan(4 * count[19]), string.Join(" ", count));
        Assert.That(count[0], Is.GreaterThan(count[5]).And.GreaterThan(count[15]), string.Join(" ", count));
        // Co-occurrence: P(10 | 0) far above P(10 | not 0) (class 10 is frequent mostly through 0).
        double p10Given0 = (double)together / count[0], p10GivenNot0 = (double)(count[10] - together) / (n - count[0]);
        TestContext.Out.WriteLine($"counts {string.Join(" ", count)}; labels/image {labels / n:F2}; P(10|0) {p10Given0:F3}, P(10|not 0) {p10GivenNot0:F3}");
        Assert.That(p10Given0, Is.GreaterThan(3 * p10GivenNot0), $"P(10|0) = {p10Given0:F3}, P(10|not 0) = {p10GivenNot0:F3}");
        // A class pair that is not declared stays near independence.
        int both59 = Enumerable.Range(0, n).Count(i => b.Targets[i * classes + 5] > 0 && b.Targets[i * classes + 9] > 0);
        Assert.That((double)both59 / count[5], Is.LessThan(2.0 * count[9] / n + 0.02));
    }

    [Test]
    public void EveryLabelHasItsPixels()
    {
        const int n = 150, classes = 20, size = 32;
        var gen = new SyntheticMultiLabel(classes, size);
        var b = gen.Generate(n, new Rng(3));
        int plane = 3 * size * size;
        for (int i = 0; i < n; i++)
        {
            var img = b.Images.AsSpan(i * plane, plane);
            var usedColours = new HashSet<int>();
            for (int c = 0; c < classes; c++)
                if (b.Targets[i * classes + c] > 0)
                {
                    usedColours.Add(SyntheticMultiLabel.Describe(c).Colour);
                    Assert.That(CountColour(img, size, SyntheticMultiLabel.Colour(c)), Is.GreaterThanOrEqualTo(8), $"image {i}: class {c} ({gen.ClassNames[c]}) not visible");
                }
            // A class colour that no label of the image uses must not appear (clutter avoids them).
            for (int c = 0; c < classes; c++)
                if (!usedColours.Contains(SyntheticMultiLabel.Describe(c).Colour))
                    Assert.That(CountColour(img, size, SyntheticMultiLabel.Colour(c)), Is.LessThanOrEqualTo(2), $"image {i}: colour of class {c} seen without its label");
        }
    }

    [Test]
    public void SingleObjectRendersItsColourAndNothingElse()
    {
        const int size = 32;
        var gen = new SyntheticMultiLabel(SyntheticMultiLabel.MaxClasses, size);
        var rng = new Rng(9);
        var img = new float[3 * size * size];
        var target = new float[gen.Classes];
        for (int c = 0; c < gen.Classes; c++)
        {
            gen.Render([c], rng, img, target);
            Assert.That(target[c], Is.EqualTo(1f));
            Assert.That(target.Sum(), Is.EqualTo(1f));
            Assert.That(CountColour(img, size, SyntheticMultiLabel.Colour(c)), Is.GreaterThanOrEqualTo(4), $"class {c} ({gen.ClassNames[c]})");
        }
        for (int k = 0; k < 20; k++)
        {
            gen.Render([], rng, img, target);
            Assert.That(target.Sum(), Is.EqualTo(0f));
            for (int col = 0; col < SyntheticMultiLabel.ColourCount; col++)
                Assert.That(CountColour(img, size, SyntheticMultiLabel.Colour(col)), Is.LessThanOrEqualTo(1), $"empty image {k} shows class colour {col}");
        }
    }

    [Test]
    public void DistractorsAreDrawnButNeverLabelled()
    {
        const int size = 32, classes = 20;
        var gen = new SyntheticMultiLabel(classes, size, maxDistractors: 3);
        var rng = new Rng(17);
        var img = new float[3 * size * size];
        var target = new float[classes];
        int withSaturatedColour = 0;
        for (int k = 0; k < 40; k++)
        {
            gen.Render([], rng, img, target);
            Assert.That(target.Sum(), Is.EqualTo(0f), $"image {k}: a distractor was labelled");
            for (int col = 0; col < SyntheticMultiLabel.ColourCount; col++)
                if (CountColour(img, size, SyntheticMultiLabel.Colour(col)) >= 8) { withSaturatedColour++; break; }
        }
        // 0 to 3 distractors per image: about three images in four show one.
        Assert.That(withSaturatedColour, Is.InRange(20, 40));
        gen.Render([4], rng, img, target);
        Assert.That(target.Sum(), Is.EqualTo(1f));
        Assert.That(target[4], Is.EqualTo(1f));
        // With every solid pattern a class there is nothing left to distract with.
        Assert.That(new SyntheticMultiLabel(64, size, maxDistractors: 3).MaxDistractors, Is.EqualTo(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SyntheticMultiLabel(classes, size, maxDistractors: 9));
    }

    [Test]
    public void EveryClassIsADistinctPattern()
    {
        const int size = 16;
        var gen = new SyntheticMultiLabel(SyntheticMultiLabel.MaxClasses, size);
        var seen = new Dictionary<string, int>();
        var img = new float[3 * size * size];
        for (int c = 0; c < gen.Classes; c++)
        {
            Array.Clear(img);
            gen.DrawObject(img, c, 2, 2, 12, 1f);
            var key = string.Join(",", img.Select(v => v.ToString("R")));
            Assert.That(seen.TryAdd(key, c), $"class {c} ({gen.ClassNames[c]}) draws like class {(seen.TryGetValue(key, out int o) ? o : -1)}");
        }
        Assert.That(gen.ClassNames.Distinct().Count(), Is.EqualTo(gen.Classes));
        Assert.That(gen.ClassNames[0], Is.EqualTo("red disc"));
    }

    [Test]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SyntheticMultiLabel(classes: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SyntheticMultiLabel(classes: SyntheticMultiLabel.MaxClasses + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SyntheticMultiLabel(size: 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SyntheticMultiLabel(coOccurrence: 1.5));
        var gen = new SyntheticMultiLabel(classes: 5, size: 16);
        Assert.Throws<ArgumentOutOfRangeException>(() => gen.Render([5], new Rng(1), new float[3 * 256], new float[5]));
        Assert.Throws<ArgumentException>(() => gen.Render([1], new Rng(1), new float[3 * 255], new float[5]));
    }
}
