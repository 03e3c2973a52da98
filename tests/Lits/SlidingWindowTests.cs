using Kernels.Nets;
using Kernels.Nets.Models.Lits;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Lits;

public class SlidingWindowTests
{
    [Test]
    public void StartsCoverTheAxisWithTheRequestedOverlap()
    {
        Assert.That(SlidingWindow.Starts(10, 16, 0.5), Is.EqualTo(new[] { 0 }));
        Assert.That(SlidingWindow.Starts(16, 16, 0.5), Is.EqualTo(new[] { 0 }));
        Assert.That(SlidingWindow.Starts(96, 48, 0.5), Is.EqualTo(new[] { 0, 24, 48 }));
        // 37 with patch 16, step ≤ 8: ceil(21/8) + 1 = 4 windows spread evenly to the end.
        Assert.That(SlidingWindow.Starts(37, 16, 0.5), Is.EqualTo(new[] { 0, 7, 14, 21 }));
        Assert.That(SlidingWindow.Starts(20, 16, 0), Is.EqualTo(new[] { 0, 4 }));
    }

    [Test]
    public void GaussianMapPeaksAtTheCentreWithSigmaAnEighthOfThePatch()
    {
        var g = SlidingWindow.GaussianMap([1, 16, 8]);
        Assert.That(g.Max(), Is.EqualTo(1f).Within(1e-6));
        Assert.That(g.All(v => v > 0), Is.True);
        // Along W (patch 8, σ = 1, centre 3.5): value at x relative to the peak row is exp(−(x−3.5)²/2)/exp(−0.125).
        int row = 7 * 8; // y = 7 is one of the two central rows (centre 7.5)
        for (int x = 0; x < 8; x++)
            Assert.That(g[row + x], Is.EqualTo(Math.Exp(-0.5 * ((x - 3.5) * (x - 3.5) - 0.25))).Within(1e-6));
    }

    /// <summary>A voxel-wise model (1×1×1 conv) gives the same probabilities wherever a window puts
    /// the voxel, so the weighted average must equal the model applied to the whole volume, on a
    /// volume that is not a multiple of the patch and is smaller than it on one axis (padding).</summary>
    [TestCase(0.5, 1)]
    [TestCase(0.25, 3)]
    public void PointwiseModelMatchesTheWholeVolume(double overlap, int batch)
    {
        using var scope = TensorScope.Begin();
        Rng.Seed(11);
        var w = Tensor.Randn([3, 2, 1, 1, 1]);
        var b = Tensor.Randn([3]);
        Tensor Model(Tensor x) => F.Conv3d(x, w, b);
        int[] size = [5, 19, 13];
        var image = Tensor.Randn([2, .. size]);
        var sw = new SlidingWindow([8, 8, 8], overlap, batch);
        var probs = sw.Probabilities(Model, image.ToFloats(), 2, size, 3, Device.Cpu);
        var expected = F.Softmax(Model(image.Reshape(1, 2, 5, 19, 13)), 1).ToFloats();
        Assert.That(probs.Length, Is.EqualTo(expected.Length));
        for (int i = 0; i < probs.Length; i++) Assert.That(probs[i], Is.EqualTo(expected[i]).Within(1e-5), $"at {i}");
        var labels = sw.Predict(Model, image.ToFloats(), 2, size, 3, Device.Cpu);
        Assert.That(labels, Is.EqualTo(SlidingWindow.ArgMax(expected, 3)));
    }

    [Test]
    public void ConstantModelGivesAConstantOutput()
    {
        // Logits that ignore the input: class 2 wins everywhere, and the averaged softmax is the same everywhere.
        Tensor Model(Tensor x)
        {
            var host = new float[x.Shape[0] * 3 * x.Shape.Prod(2, 5)];
            long v = x.Shape.Prod(2, 5);
            for (int n = 0; n < x.Shape[0]; n++)
                for (long i = 0; i < v; i++) { host[(n * 3 + 1) * v + i] = 0.5f; host[(n * 3 + 2) * v + i] = 1.5f; }
            return Tensor.FromArray(host, new Shape(x.Shape[0], 3, x.Shape[2], x.Shape[3], x.Shape[4]));
        }
        int[] size = [11, 9, 30];
        var img = new float[11 * 9 * 30];
        new Rng(2).FillUniform(new double[1], 0, 1);
        for (int i = 0; i < img.Length; i++) img[i] = i % 17;
        var sw = new SlidingWindow([8, 8, 16], 0.5, 2);
        var probs = sw.Probabilities(Model, img, 1, size, 3, Device.Cpu);
        double e0 = 1, e1 = Math.Exp(0.5), e2 = Math.Exp(1.5), z = e0 + e1 + e2;
        long voxels = img.Length;
        for (long i = 0; i < voxels; i++)
        {
            Assert.That(probs[i], Is.EqualTo(e0 / z).Within(1e-6));
            Assert.That(probs[2 * voxels + i], Is.EqualTo(e2 / z).Within(1e-6));
        }
        Assert.That(sw.Predict(Model, img, 1, size, 3, Device.Cpu).All(v => v == 2), Is.True);
    }

    [Test]
    public void TwoDimensionalWindowsOnASmallImage()
    {
        using var scope = TensorScope.Begin();
        Rng.Seed(5);
        var w = Tensor.Randn([2, 1, 1, 1]);
        Tensor Model(Tensor x) => F.Conv2d(x, w, null);
        var image = Tensor.Randn([1, 6, 21]);
        var sw = new SlidingWindow([8, 8]);
        var probs = sw.Probabilities(Model, image.ToFloats(), 1, [6, 21], 2, Device.Cpu);
        var expected = F.Softmax(Model(image.Reshape(1, 1, 6, 21)), 1).ToFloats();
        for (int i = 0; i < probs.Length; i++) Assert.That(probs[i], Is.EqualTo(expected[i]).Within(1e-5));
    }

    [Test]
    public void UnetSegmenterRunsEveryModeOverAVolume()
    {
        using var scope = TensorScope.Begin();
        int[] dims = [5, 12, 10];
        var img = Tensor.Randn([5 * 12 * 10]).ToFloats();
        using var n3 = new UNet(new UNetConfig { BaseWidth = 2, Depth = 1 });
        Assert.That(new UNetSegmenter(n3, UNetMode.Unet3d, [4, 8, 8]).Segment(img, dims, Device.Cpu).Length, Is.EqualTo(600));
        using var n2 = new UNet(new UNetConfig { Dims = 2, BaseWidth = 2, Depth = 1 });
        Assert.That(new UNetSegmenter(n2, UNetMode.Unet2d, [8, 8]).Segment(img, dims, Device.Cpu).Length, Is.EqualTo(600));
        using var n25 = new UNet(new UNetConfig { Dims = 2, InChannels = 3, BaseWidth = 2, Depth = 1 });
        var p = new UNetSegmenter(n25, UNetMode.Unet25d, [8, 8], context: 1).Probabilities(img, dims, Device.Cpu);
        Assert.That(p.Length, Is.EqualTo(3 * 600));
        for (int i = 0; i < 600; i++) Assert.That(p[i] + p[600 + i] + p[1200 + i], Is.EqualTo(1f).Within(1e-5));
        Assert.That(() => new UNetSegmenter(n25, UNetMode.Unet25d, [8, 8], context: 2), Throws.ArgumentException.With.Message.Contains("5 input channels"));
    }
}
