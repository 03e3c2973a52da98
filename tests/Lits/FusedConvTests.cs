using Kernels.Ilgpu;
using Kernels.Nets;
using Kernels.Nets.Models.Lits;
using Kernels.Nets.Modules;
using Kernels.Ops.Activation;
using Kernels.Ops.Conv;
using Kernels.Tests.Native;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;
using Grad = Kernels.Nets.Autograd;

namespace Kernels.Tests.Lits;

/// <summary>The fused convolution epilogue (decision 0019): F.ConvFused against the composed ops,
/// the 3-D U-Net with batch norm folded in inference against its unfused layers, and that no fused
/// path is taken when a gradient is needed.</summary>
public class FusedConvTests
{
    private static Device Dev(string name)
    {
        switch (name)
        {
            case "cpu": return Device.Cpu;
            case "ilgpu-cpu": return IlgpuCpuDevice.Instance;
            default:
                EmuSupport.RequireLibrary();
                return EmuDevice.Instance;
        }
    }

    /// <summary>The composed reference: conv, then ·scale, +shift per channel, then the activation.</summary>
    private static Tensor Composed(Tensor x, Tensor w, Tensor? bias, Tensor? scale, Tensor? shift, ActivationKind? act,
        double alpha, int stride, int padding, int dilation, int groups)
    {
        var y = F.Conv3d(x, w, bias, stride, padding, dilation, groups);
        int c = w.Shape[0];
        if (scale is not null) y = F.Mul(y, scale.Reshape(1, c, 1, 1, 1));
        if (shift is not null) y = F.Add(y, shift.Reshape(1, c, 1, 1, 1));
        return act switch
        {
            ActivationKind.Relu => F.Relu(y),
            ActivationKind.LeakyRelu => F.LeakyRelu(y, alpha),
            _ => y,
        };
    }

    // batch, in, out, size, stride, dilation, groups, activation, bias, scale, shift
    private static readonly object?[][] Shapes =
    [
        [1, 5, 7, new[] { 4, 5, 6 }, 1, 1, 1, ActivationKind.LeakyRelu, true, true, true],
        [2, 6, 9, new[] { 5, 4, 5 }, 2, 1, 3, ActivationKind.Relu, false, true, false],
        [1, 9, 10, new[] { 6, 5, 4 }, 1, 2, 1, null, true, false, true],
        [2, 12, 11, new[] { 3, 4, 5 }, 1, 1, 1, ActivationKind.LeakyRelu, true, false, false],
    ];

    [TestCase("cpu"), TestCase("ilgpu-cpu"), TestCase("emu")]
    public void ConvFusedMatchesTheComposedOps(string deviceName)
    {
        var device = Dev(deviceName);
        using var scope = TensorScope.Begin();
        foreach (var row in Shapes)
        {
            int n = (int)row[0]!, cin = (int)row[1]!, cout = (int)row[2]!, stride = (int)row[4]!, dil = (int)row[5]!, groups = (int)row[6]!;
            var size = (int[])row[3]!;
            var act = (ActivationKind?)row[7];
            var x = Tensor.Randn([n, cin, .. size], device: device);
            var w = Tensor.Randn([cout, cin / groups, 3, 3, 3], std: 0.3, device: device);
            var bias = (bool)row[8]! ? Tensor.Randn([cout], device: device) : null;
            var scale = (bool)row[9]! ? Tensor.Rand([cout], -2, 2, device: device) : null;
            var shift = (bool)row[10]! ? Tensor.Randn([cout], device: device) : null;
            Tensor expected, actual;
            long before;
            using (Grad.NoGrad())
            {
                expected = Composed(x, w, bias, scale, shift, act, 0.2, stride, dil, dil, groups);
                before = F.FusedConvCalls;
                actual = F.Conv3dFused(x, w, bias, scale, shift, act, 0.2, stride, dil, dil, groups);
            }
            Assert.That(F.FusedConvCalls, Is.EqualTo(before + 1), "the fused kernel ran");
            Assert.That(actual.Shape, Is.EqualTo(expected.Shape));
            double max = expected.ToDoubles().Max(Math.Abs);
            Approx.Equal(expected.ToDoubles(), actual.ToDoubles(), 1e-5, 1e-6 * max, $"{deviceName} {string.Join(',', row)}");
        }
    }

    [TestCase("cpu"), TestCase("ilgpu-cpu"), TestCase("emu")]
    public void UnfusedActivationsAreRefusedByNameOnEveryImplementation(string deviceName)
    {
        var device = Dev(deviceName);
        var s = ConvShape.Create(1, 2, 3, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1], [1, 1, 1], 1);
        using var x = Tensor.Randn([1, 2, 3, 3, 3], device: device);
        using var w = Tensor.Randn([3, 2, 3, 3, 3], device: device);
        using var y = Tensor.Zeros([1, 3, 1, 1, 1], device: device);
        IConv[] impls = deviceName switch
        {
            "cpu" => [new ConvCpu()],
            "ilgpu-cpu" => [new ConvIlgpu(device), new ConvIm2colIlgpuCpu(device)],
            _ => [new ConvNative(device)],
        };
        foreach (var impl in impls)
            foreach (var kind in new[] { ActivationKind.Gelu, ActivationKind.Sigmoid, ActivationKind.Tanh })
            {
                var e = Assert.Throws<NotSupportedException>(() => impl.ForwardFused(s, x.Buffer, w.Buffer, null, y.Buffer, kind, 0, null, null));
                Assert.That(e!.Message, Does.Contain(kind.ToString()).And.Contain("ReLU or LeakyReLU"), impl.GetType().Name);
            }
        var f = Assert.Throws<NotSupportedException>(() => F.Conv3dFused(x, w, null, null, null, ActivationKind.Gelu, padding: 1));
        Assert.That(f!.Message, Does.Contain("Gelu"));
    }

    [Test]
    public void ConvFusedComposesWhenAGradientIsNeededAndItsGradientsAreTheComposedOnes()
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn([2, 4, 4, 5, 3]);
        var w = Tensor.Randn([6, 4, 3, 3, 3], std: 0.3);
        var bias = Tensor.Randn([6]);
        var scale = Tensor.Rand([6], -2, 2);
        var shift = Tensor.Randn([6]);
        var g = Tensor.Randn([2, 6, 4, 5, 3]);

        double[][] Grads(bool fused)
        {
            var ts = new[] { x, w, bias, scale, shift }.Select(t => t.Detach().AsParameter()).ToArray();
            long before = F.FusedConvCalls;
            var y = fused
                ? F.Conv3dFused(ts[0], ts[1], ts[2], ts[3], ts[4], ActivationKind.LeakyRelu, 0.1, padding: 1)
                : Composed(ts[0], ts[1], ts[2], ts[3], ts[4], ActivationKind.LeakyRelu, 0.1, 1, 1, 1, 1);
            Assert.That(F.FusedConvCalls, Is.EqualTo(before), "no fused kernel when a gradient is needed");
            y.Backward(g);
            return [y.ToDoubles(), .. ts.Select(t => t.Grad!.ToDoubles())];
        }

        var a = Grads(fused: true);
        var b = Grads(fused: false);
        for (int i = 0; i < a.Length; i++) Assert.That(a[i], Is.EqualTo(b[i]), $"output / gradient {i}");
    }

    /// <summary>A small batch-norm U-Net with non-trivial running statistics and affine parameters.</summary>
    private static UNet BatchNormUNet(int dims = 3)
    {
        Rng.Seed(5);
        var net = new UNet(new UNetConfig { Dims = dims, BaseWidth = 3, Depth = 2, Norm = UNetNorm.Batch });
        using (Grad.NoGrad())
            foreach (var (name, t) in net.StateDict())
            {
                int c = t.Numel > 0 ? (int)t.Numel : 0;
                float[]? v = name.EndsWith("running_mean") ? Values(c, -0.5, 0.5)
                    : name.EndsWith("running_var") ? Values(c, 0.3, 2.0)
                    : name.Contains(".norm") && name.EndsWith("weight") ? Values(c, 0.5, 1.5)
                    : name.Contains(".norm") && name.EndsWith("bias") ? Values(c, -0.3, 0.3)
                    : null;
                if (v is not null) t.Device.Upload<float>(v, t.Buffer);
            }
        return net;
    }

    private static float[] Values(int n, double lo, double hi) => Tensor.Rand([n], lo, hi).ToFloats();

    // ilgpu-cpu compiles and simulates every kernel of the U-Net (about 6 s): Slow; the fast
    // ConvFusedMatchesTheComposedOps("ilgpu-cpu") covers its fused kernel in the default run.
    [TestCase("cpu", 3), TestCase("cpu", 2), TestCase("ilgpu-cpu", 3, Category = "Slow")]
    public void UNetWithBatchNormInEvalGivesTheSameOutputFusedAndUnfused(string deviceName, int dims)
    {
        var device = Dev(deviceName);
        using var scope = TensorScope.Begin();
        using var net = BatchNormUNet(dims);
        net.To(device);
        net.Eval();
        // ilgpu-cpu simulates every GPU thread: one image there (eval-mode batch norm is per sample anyway).
        var x = Tensor.Randn(dims == 3 ? [deviceName == "cpu" ? 2 : 1, 1, 8, 4, 8] : [2, 1, 12, 8], device: device);
        Tensor fused, unfused;
        long calls;
        using (Grad.NoGrad())
        {
            net.FuseInference = false;
            long before = F.FusedConvCalls;
            unfused = net.Forward(x);
            Assert.That(F.FusedConvCalls, Is.EqualTo(before), "FuseInference off: no fused call");
            net.FuseInference = true;
            before = F.FusedConvCalls;
            fused = net.Forward(x);
            calls = F.FusedConvCalls - before;
        }
        // Two conv – norm – LeakyReLU layers per block, depth + 1 encoder and depth decoder blocks.
        Assert.That(calls, Is.EqualTo(2 * (2 * 2 + 1)));
        var e = unfused.ToDoubles();
        double max = e.Max(Math.Abs);
        Assert.That(max, Is.GreaterThan(0));
        Approx.Equal(e, fused.ToDoubles(), 1e-5, 1e-5 * max, $"{deviceName} {dims}-D U-Net logits");
    }

    [Test]
    public void UNetTakesNoFusedPathWhenGradientsAreNeeded()
    {
        using var scope = TensorScope.Begin();
        using var net = BatchNormUNet();
        var x = Tensor.Randn([2, 1, 4, 8, 4]);
        var g = Tensor.Randn([2, 3, 4, 8, 4]);

        // Training: batch statistics; the gradients with fusion allowed are those of the plain layers.
        double[][] TrainGrads(bool fuse)
        {
            using var copy = BatchNormUNet();
            copy.FuseInference = fuse;
            copy.Train();
            long before = F.FusedConvCalls;
            copy.Forward(x).Backward(g);
            Assert.That(F.FusedConvCalls, Is.EqualTo(before), $"training (fuse {fuse}): no fused call");
            return copy.Parameters().Select(p => p.Grad!.ToDoubles()).ToArray();
        }

        var withFusion = TrainGrads(true);
        var without = TrainGrads(false);
        Assert.That(withFusion, Has.Length.EqualTo(without.Length));
        for (int i = 0; i < without.Length; i++) Assert.That(withFusion[i], Is.EqualTo(without[i]), $"parameter {i}");

        // Eval with autograd on and parameters requiring gradients (e.g. a saliency map): unfused.
        net.Eval();
        var xs = x.Detach().AsParameter();
        long start = F.FusedConvCalls;
        net.Forward(xs).Backward(g);
        Assert.That(F.FusedConvCalls, Is.EqualTo(start), "eval with gradients: no fused call");
        Assert.That(xs.Grad!.ToDoubles().Any(v => v != 0), Is.True);
        // The same network under NoGrad fuses.
        using (Grad.NoGrad()) net.Forward(x);
        Assert.That(F.FusedConvCalls, Is.GreaterThan(start));
    }

    [Test]
    public void InstanceNormUNetIsNeverFused()
    {
        using var scope = TensorScope.Begin();
        using var net = new UNet(new UNetConfig { BaseWidth = 2, Depth = 1, Norm = UNetNorm.Instance });
        net.Eval();
        long before = F.FusedConvCalls;
        using (Grad.NoGrad()) net.Forward(Tensor.Randn([1, 1, 4, 4, 4]));
        Assert.That(F.FusedConvCalls, Is.EqualTo(before));
    }
}
