using Kernels.Nets;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Pool;

public class PoolTests
{
    // Mirrors scripts/vectors/pool.py.
    private static readonly (string Name, Func<Tensor, Tensor> Op)[] Cases =
    [
        ("max2_a", x => F.MaxPool2d(x, 3, 2, 1)),
        ("max2_b", x => F.MaxPool2d(x, 2)),
        ("max2_rect", x => F.MaxPool2d(x, [2, 3], [1, 2], [1, 1])),
        ("max2_ties", x => F.MaxPool2d(x, 3, 1, 1)),
        ("max3_a", x => F.MaxPool3d(x, 3, 2, 1)),
        ("max3_b", x => F.MaxPool3d(x, 2)),
        ("max3_rect", x => F.MaxPool3d(x, [1, 2, 3], [1, 2, 2], [0, 1, 1])),
        ("avg2_a", x => F.AvgPool2d(x, 3, 2, 1)),
        ("avg2_b", x => F.AvgPool2d(x, 2)),
        ("avg2_rect", x => F.AvgPool2d(x, [3, 2], [2, 1], [1, 0])),
        ("avg3_a", x => F.AvgPool3d(x, 3, 2, 1)),
        ("avg3_b", x => F.AvgPool3d(x, [2, 2, 2])),
        ("avg3_rect", x => F.AvgPool3d(x, [3, 2, 1], [2, 1, 1], [1, 1, 0])),
        ("gap_2d", F.GlobalAvgPool),
        ("gap_3d", F.GlobalAvgPool),
    ];

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ForwardAndBackwardMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("pool");
        foreach (var (name, op) in Cases)
            VectorCase.Run(v, name, dtype, (x, _, _) => op(x));
    }

    [Test]
    public void MaxPoolGradientsMatchCentralDifferences()
    {
        // Distinct values: the max of every window is unique and stays so under the nudges.
        GradCheck.Check(t => F.MaxPool2d(t[0], 3, 2, 1), [VectorCase.DistinctInput([2, 3, 7, 9])], what: "MaxPool2d k3 s2 p1");
        GradCheck.Check(t => F.MaxPool2d(t[0], [2, 3], [1, 2], [1, 1]), [VectorCase.DistinctInput([1, 2, 5, 6])], what: "MaxPool2d rect");
        GradCheck.Check(t => F.MaxPool3d(t[0], 3, 2, 1), [VectorCase.DistinctInput([1, 2, 5, 4, 5])], what: "MaxPool3d k3 s2 p1");
        GradCheck.Check(t => F.MaxPool3d(t[0], 2), [VectorCase.DistinctInput([2, 1, 4, 4, 3])], what: "MaxPool3d k2");
        GradCheck.Check(t => F.MaxPool3d(t[0], [1, 2, 3], [1, 2, 2], [0, 1, 1]), [VectorCase.DistinctInput([1, 2, 3, 5, 6])], what: "MaxPool3d rect");
    }

    [Test]
    public void AvgPoolGradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.AvgPool2d(t[0], 3, 2, 1), [GradCheck.Input([2, 3, 7, 9])], what: "AvgPool2d k3 s2 p1");
        GradCheck.Check(t => F.AvgPool2d(t[0], [3, 2], [2, 1], [1, 0]), [GradCheck.Input([1, 2, 6, 7])], what: "AvgPool2d rect");
        GradCheck.Check(t => F.AvgPool3d(t[0], 3, 2, 1), [GradCheck.Input([1, 2, 5, 4, 5])], what: "AvgPool3d k3 s2 p1");
        GradCheck.Check(t => F.AvgPool3d(t[0], 2), [GradCheck.Input([2, 1, 4, 4, 3])], what: "AvgPool3d k2");
        GradCheck.Check(t => F.AvgPool3d(t[0], [3, 2, 1], [2, 1, 1], [1, 1, 0]), [GradCheck.Input([1, 2, 3, 5, 4])], what: "AvgPool3d rect");
    }

    [Test]
    public void GlobalAvgPoolGradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.GlobalAvgPool(t[0]), [GradCheck.Input([2, 3, 5, 7])], what: "GlobalAvgPool 2-D");
        GradCheck.Check(t => F.GlobalAvgPool(t[0]), [GradCheck.Input([1, 4, 3, 2, 5])], what: "GlobalAvgPool 3-D");
        GradCheck.Check(t => F.GlobalAvgPool(t[0]), [GradCheck.Input([3, 2, 7])], what: "GlobalAvgPool 1-D");
    }

    [Test]
    public void MaxPoolGivesTheGradientToTheFirstMaximum()
    {
        // One window of four equal values: all of the gradient goes to the first (top-left).
        var x = Tensor.FromArray(new double[] { 5, 5, 5, 5 }, [1, 1, 2, 2]);
        x.RequiresGrad = true;
        var y = F.MaxPool2d(x, 2);
        y.Backward(Tensor.Full([1, 1, 1, 1], 3.0, DType.F64));
        Assert.That(x.Grad!.ToDoubles(), Is.EqualTo(new double[] { 3, 0, 0, 0 }));
    }

    [Test]
    public void PaddingNeverWinsTheMax()
    {
        // All inputs negative: a zero from the padding would win if padding took part.
        var x = Tensor.FromArray(new double[] { -4, -3, -2, -1 }, [1, 1, 2, 2]);
        var y = F.MaxPool2d(x, 3, 1, 1);
        Assert.That(y.ToDoubles(), Is.EqualTo(new double[] { -1, -1, -1, -1 }));
        var a = F.AvgPool2d(x, 3, 1, 1); // count_include_pad: divide by 9 everywhere
        Approx.Equal(new[] { -10 / 9.0, -10 / 9.0, -10 / 9.0, -10 / 9.0 }, a, 1e-12, 1e-12, "avg with padding");
    }

    [Test]
    public void ForwardAndBackwardLeaveNoTensorsBehind()
    {
        // Saved state (argmax, statistics) must be released by the backward, not left to the GC.
        long tensors = TensorStats.LiveTensors, bytes = TensorStats.LiveBytes;
        var x = GradCheck.Input([2, 4, 6, 6]);
        var w = GradCheck.Input([4], seed: 2);
        var b = GradCheck.Input([4], seed: 3);
        var rm = Tensor.Zeros([4], DType.F64);
        var rv = Tensor.Ones([4], DType.F64);
        Func<Tensor>[] ops =
        [
            () => F.MaxPool2d(x, 2), () => F.AvgPool2d(x, 3, 2, 1), () => F.GlobalAvgPool(x),
            () => F.UpsampleLinear(x, [7, 9]), () => F.UpsampleNearest(x, [3, 4]),
            () => F.BatchNorm(x, w, b, rm, rv, true), () => F.BatchNorm(x, w, b, rm, rv, false),
            () => F.GroupNorm(x, 2, w, b), () => F.InstanceNorm(x, w, b), () => F.LayerNorm(x, [6, 6], null, null),
        ];
        foreach (var op in ops)
        {
            using var y = op();
            using var g = Tensor.Ones(y.Shape, DType.F64);
            y.Backward(g);
        }
        using (Nets.Autograd.NoGrad())
            foreach (var op in ops) op().Dispose();
        foreach (var t in new[] { x, w, b, rm, rv }) t.Dispose();
        Assert.That(TensorStats.LiveTensors, Is.EqualTo(tensors), "live tensors");
        Assert.That(TensorStats.LiveBytes, Is.EqualTo(bytes), "live bytes");
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void KernelsWriteEveryOutputElement(DType dtype)
    {
        // Outputs start as NaN: an element a kernel forgets to write stays NaN.
        using var scope = TensorScope.Begin();
        var k = Device.Cpu.Kernels.Get<Kernels.Ops.Pool.IPool>();
        var s = F.PoolGeometry("test", new Shape(2, 3, 7, 9), 2, [3, 3], [2, 2], [1, 1]);
        var x = Tensor.Randn([2, 3, 7, 9], dtype: dtype);
        var y = Tensor.Full([2, 3, s.OutH, s.OutW], double.NaN, dtype);
        var dy = Tensor.Randn(y.Shape, dtype: dtype);
        var argmax = Tensor.Full(y.Shape, -1, DType.I32);
        var dx = Tensor.Full(x.Shape, double.NaN, dtype);
        k.MaxForward(s, x.Buffer, y.Buffer, argmax.Buffer);
        AssertFinite(y, "max forward");
        Assert.That(argmax.ToArray<int>(), Has.All.InRange(0, 7 * 9 - 1), "argmax");
        k.MaxBackward(s, dy.Buffer, argmax.Buffer, dx.Buffer);
        AssertFinite(dx, "max backward");
        Poison(y, dx);
        k.AvgForward(s, x.Buffer, y.Buffer);
        AssertFinite(y, "avg forward");
        k.AvgBackward(s, dy.Buffer, dx.Buffer);
        AssertFinite(dx, "avg backward");
        var g = Tensor.Full([2, 3], double.NaN, dtype);
        k.GlobalAvgForward(6, 63, x.Buffer, g.Buffer);
        AssertFinite(g, "global forward");
        Poison(dx);
        k.GlobalAvgBackward(6, 63, dy.Buffer, dx.Buffer);
        AssertFinite(dx, "global backward");
    }

    internal static void Poison(params Tensor[] ts)
    {
        foreach (var t in ts) t.Device.Kernels.Get<Kernels.Ops.Elementwise.IElementwise>().Fill(double.NaN, t.Numel, t.Buffer);
    }

    internal static void AssertFinite(Tensor t, string what) =>
        Assert.That(t.ToDoubles(), Has.All.Matches<double>(double.IsFinite), what);

    [Test]
    public void BadArgumentsAreRejectedWithClearMessages()
    {
        var x3 = Tensor.Zeros([2, 3, 4]);
        var x4 = Tensor.Zeros([2, 3, 4, 5]);
        var x5 = Tensor.Zeros([1, 2, 3, 4, 5]);
        Expect(() => F.MaxPool2d(x3, 2), "MaxPool2d", "[2, 3, 4]");
        Expect(() => F.AvgPool2d(x5, 2), "AvgPool2d", "[1, 2, 3, 4, 5]");
        Expect(() => F.MaxPool3d(x4, 2), "MaxPool3d", "[2, 3, 4, 5]");
        Expect(() => F.AvgPool3d(x4, 2), "AvgPool3d", "rank 5");
        Expect(() => F.MaxPool2d(x4, 3, 1, 2), "MaxPool2d", "padding");
        Expect(() => F.MaxPool2d(x4, 6), "MaxPool2d", "smaller than kernel");
        Expect(() => F.AvgPool2d(x4, 0), "AvgPool2d", "kernel");
        Expect(() => F.AvgPool2d(x4, [2, 2, 2]), "AvgPool2d", "kernel [2, 2, 2]");
        Expect(() => F.MaxPool2d(x4, 2, -1), "MaxPool2d", "stride");
        Expect(() => F.GlobalAvgPool(Tensor.Zeros([2, 3])), "GlobalAvgPool", "[2, 3]");
    }

    internal static void Expect(TestDelegate call, params string[] parts)
    {
        var e = Assert.Throws<ArgumentException>(call)!;
        foreach (var p in parts) Assert.That(e.Message, Does.Contain(p));
    }
}
