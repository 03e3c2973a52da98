using Kernels.Nets;
using Kernels.Nets.Models.Lits;
using Kernels.Nets.Optim;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Lits;

public class UnetTests
{
    [TestCase(UNetNorm.Instance, UNetDownsampling.StridedConv)]
    [TestCase(UNetNorm.Batch, UNetDownsampling.MaxPool)]
    public void Unet3dMapsAPatchToLogitsOfTheSameSize(UNetNorm norm, UNetDownsampling down)
    {
        using var scope = TensorScope.Begin();
        using var net = new UNet(new UNetConfig { BaseWidth = 2, Depth = 2, Norm = norm, Down = down });
        var y = net.Forward(Tensor.Randn([2, 1, 8, 12, 4]));
        Assert.That(y.Shape, Is.EqualTo(new Shape(2, 3, 8, 12, 4)));
        Assert.That(y.ToFloats().All(float.IsFinite), Is.True);
        var names = net.StateDict().Keys.ToList();
        Assert.That(names, Does.Contain("enc.0.conv1.weight").And.Contain("up.0.weight").And.Contain("dec.1.conv2.weight").And.Contain("head.weight"));
        if (norm == UNetNorm.Batch) Assert.That(names, Does.Contain("enc.2.norm2.running_mean"));
        // Widths double per stage: the deepest block has base · 2^depth channels.
        Assert.That(net.StateDict()["enc.2.conv2.weight"].Shape, Is.EqualTo(new Shape(8, 8, 3, 3, 3)));
    }

    [Test]
    public void Unet2dAnd25dTakeSlicesWithContextChannels()
    {
        using var scope = TensorScope.Begin();
        using var net2 = new UNet(new UNetConfig { Dims = 2, BaseWidth = 2, Depth = 3 });
        Assert.That(net2.Forward(Tensor.Randn([1, 1, 16, 8])).Shape, Is.EqualTo(new Shape(1, 3, 16, 8)));
        using var net25 = new UNet(new UNetConfig { Dims = 2, InChannels = UNetMode.Unet25d.InChannels(2), BaseWidth = 2, Depth = 1 });
        Assert.That(net25.Forward(Tensor.Randn([3, 5, 6, 4])).Shape, Is.EqualTo(new Shape(3, 3, 6, 4)));
    }

    [Test]
    public void Stack25dRepeatsEdgeSlices()
    {
        var vol = Enumerable.Range(0, 3 * 2 * 2).Select(i => (float)(i / 4)).ToArray(); // slice index as value
        var s = UNetSegmenter.Stack25d(vol, [3, 2, 2], 0, 1);
        Assert.That(s, Is.EqualTo(new float[] { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1 }));
        s = UNetSegmenter.Stack25d(vol, [3, 2, 2], 2, 1);
        Assert.That(s, Is.EqualTo(new float[] { 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2 }));
    }

    [Test]
    public void SizeNotAMultipleOfTwoToTheDepthIsRefusedWithTheShape()
    {
        using var scope = TensorScope.Begin();
        using var net = new UNet(new UNetConfig { BaseWidth = 2, Depth = 2 });
        var e = Assert.Throws<ArgumentException>(() => net.Forward(Tensor.Randn([1, 1, 8, 10, 8])));
        Assert.That(e!.Message, Does.Contain("[1, 1, 8, 10, 8]").And.Contain("multiple of 4"));
        e = Assert.Throws<ArgumentException>(() => net.Forward(Tensor.Randn([1, 2, 8, 8, 8])));
        Assert.That(e!.Message, Does.Contain("expected [N, 1, D, H, W]"));
    }

    [Test]
    public void ConfigRoundTripsThroughCheckpointMetadata()
    {
        var c = new UNetConfig { Dims = 2, InChannels = 5, BaseWidth = 6, Depth = 4, Norm = UNetNorm.Batch, Down = UNetDownsampling.MaxPool };
        Assert.That(UNetConfig.FromMetadata(c.ToMetadata(), "x"), Is.EqualTo(c));
        var m = c.ToMetadata();
        m.Remove("unet.depth");
        Assert.That(() => UNetConfig.FromMetadata(m, "ck.safetensors"),
            Throws.TypeOf<InvalidDataException>().With.Message.Contains("ck.safetensors").And.Message.Contains("unet.depth"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void DiceCeLossGradientMatchesCentralDifferences(bool batchDice)
    {
        using var scope = TensorScope.Begin();
        var targets = Tensor.FromArray(new[] { 0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 0, 0, 2, 2, 1 }, new Shape(1, 15));
        var t = Tensor.FromArray(new[] { 0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 0, 0, 2, 2, 1, 0, 0, 0, 1, 1 }, new Shape(2, 2, 5));
        var loss = new DiceCeLoss(batchDice, smooth: 1e-3);
        GradCheck.Check(x => loss.Forward(x[0], t), [GradCheck.Input([2, 3, 2, 5], -2, 2)], what: $"DiceCe batchDice={batchDice}");
        // Also in 1-D with a single sample.
        GradCheck.Check(x => loss.Forward(x[0], targets), [GradCheck.Input([1, 3, 15], -2, 2, seed: 9)], what: "DiceCe 1-D");
    }

    [Test]
    public void DiceCeLossMatchesAHandComputation()
    {
        using var scope = TensorScope.Begin();
        // Two classes, four voxels; logits 0 for background, l for foreground.
        double[] l = [2, -1, 0.5, 0];
        int[] y = [1, 0, 1, 1];
        double[] all = [0, 0, 0, 0, .. l];
        var logits = Tensor.FromArray(all, new Shape(1, 2, 4));
        var loss = new DiceCeLoss(smooth: 0).Forward(logits, Tensor.FromArray(y, new Shape(1, 4))).Item();
        double ce = 0, inter = 0, psum = 0;
        for (int i = 0; i < 4; i++)
        {
            double p = 1 / (1 + Math.Exp(-l[i]));
            ce -= Math.Log(y[i] == 1 ? p : 1 - p) / 4;
            inter += p * y[i];
            psum += p;
        }
        double dice = 2 * inter / (psum + 3);
        Assert.That(loss, Is.EqualTo(ce + 1 - dice).Within(1e-12));
    }

    [Test]
    public void ForegroundOneHotPutsEachLabelOnItsClassChannel()
    {
        using var scope = TensorScope.Begin();
        var rng = new Rng(5);
        int n = 2, classes = 4;
        int voxels = 3 * 5 * 7;
        var y = new int[n * voxels];
        for (int i = 0; i < y.Length; i++) y[i] = (int)(rng.NextDouble() * classes);
        var onehot = DiceCeLoss.ForegroundOneHot(Tensor.FromArray(y, new Shape(n, 3, 5, 7)), classes, DType.F64, Device.Cpu);
        Assert.That(onehot.Shape, Is.EqualTo(new Shape(n, classes - 1, 3, 5, 7)));
        var h = onehot.ToArray<double>();
        for (int b = 0; b < n; b++)
            for (int c = 1; c < classes; c++)
                for (int v = 0; v < voxels; v++)
                    Assert.That(h[(b * (classes - 1) + c - 1) * voxels + v], Is.EqualTo(y[b * voxels + v] == c ? 1.0 : 0.0),
                        $"sample {b} class {c} voxel {v} (label {y[b * voxels + v]})");
    }

    [Test]
    public void PerfectLogitsGiveDiceNearOne()
    {
        using var scope = TensorScope.Begin();
        int[] y = [0, 1, 2, 1, 0, 2];
        var host = new double[3 * 6];
        for (int i = 0; i < 6; i++) host[y[i] * 6 + i] = 30;
        var (ce, dice) = new DiceCeLoss().Parts(Tensor.FromArray(host, new Shape(1, 3, 6)), Tensor.FromArray(y, new Shape(1, 6)));
        Assert.That(dice.Item(), Is.EqualTo(1).Within(1e-6));
        Assert.That(ce.Item(), Is.LessThan(1e-6));
    }

    [Test]
    public void ATinyUnetLearnsASyntheticSphere()
    {
        // A bright ball (class 1) with a brighter core (class 2) in noise: a few Adam steps on one
        // fixed batch must drive the loss well down.
        Rng.Seed(3);
        using var outer = TensorScope.Begin();
        int n = 8;
        var img = new float[n * n * n];
        var lab = new int[n * n * n];
        var rng = new Rng(4);
        for (int z = 0, i = 0; z < n; z++)
            for (int yy = 0; yy < n; yy++)
                for (int x = 0; x < n; x++, i++)
                {
                    double r = Math.Sqrt((z - 3.5) * (z - 3.5) + (yy - 3.5) * (yy - 3.5) + (x - 3.5) * (x - 3.5));
                    lab[i] = r < 1.6 ? 2 : r < 3.2 ? 1 : 0;
                    img[i] = lab[i] + (float)(0.2 * rng.NextNormal());
                }
        var xT = Tensor.FromArray(img, new Shape(1, 1, n, n, n));
        var yT = Tensor.FromArray(lab, new Shape(1, n, n, n));
        using var net = new UNet(new UNetConfig { BaseWidth = 4, Depth = 2 });
        using var opt = new Adam(net.Parameters(), lr: 1e-2);
        var loss = new DiceCeLoss();
        double first = 0, last = 0;
        for (int s = 0; s < 40; s++)
        {
            using var scope = TensorScope.Begin();
            var l = loss.Forward(net.Forward(xT), yT);
            opt.ZeroGrad();
            l.Backward();
            opt.Step();
            if (s == 0) first = l.Item();
            last = l.Item();
        }
        Assert.That(last, Is.LessThan(first * 0.4), $"loss {first} → {last}");
        net.Eval();
        using var s2 = TensorScope.Begin();
        var pred = F.ArgMax(net.Forward(xT), 1).ToArray<int>();
        var predB = pred.Select(v => (byte)v).ToArray();
        var refB = lab.Select(v => (byte)v).ToArray();
        Assert.That(LabelOps.Dice(predB, refB, 1), Is.GreaterThan(0.9));
    }
}
