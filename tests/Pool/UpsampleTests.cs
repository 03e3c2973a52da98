using Kernels.Nets;
using Kernels.Ops.Upsample;
using Kernels.Tests.Support;
using F = Kernels.Nets.Functional;

namespace Kernels.Tests.Pool;

public class UpsampleTests
{
    // Mirrors scripts/vectors/upsample.py.
    private static IEnumerable<(string Name, Func<Tensor, Tensor> Op)> Cases()
    {
        yield return ("nearest2_up", x => F.UpsampleNearest(x, [9, 11]));
        yield return ("nearest2_double", x => F.UpsampleNearest(x, [10, 14]));
        yield return ("nearest2_down", x => F.UpsampleNearest(x, [3, 4]));
        yield return ("nearest2_same", x => F.UpsampleNearest(x, [5, 7]));
        yield return ("nearest3_up", x => F.UpsampleNearest(x, [5, 7, 6]));
        yield return ("nearest3_down", x => F.UpsampleNearest(x, [2, 3, 3]));
        yield return ("nearest1", x => F.UpsampleNearest(x, [12]));
        foreach (bool ac in new[] { false, true })
        {
            string s = ac ? "_ac" : "";
            yield return ("bilinear_up" + s, x => F.UpsampleLinear(x, [9, 11], ac));
            yield return ("bilinear_down" + s, x => F.UpsampleLinear(x, [3, 4], ac));
            yield return ("bilinear_one" + s, x => F.UpsampleLinear(x, [1, 6], ac));
            yield return ("trilinear_up" + s, x => F.UpsampleLinear(x, [5, 7, 9], ac));
            yield return ("trilinear_down" + s, x => F.UpsampleLinear(x, [2, 3, 3], ac));
            yield return ("linear1" + s, x => F.UpsampleLinear(x, [12], ac));
        }
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void ForwardAndBackwardMatchPyTorch(DType dtype)
    {
        var v = new VectorFile("upsample");
        foreach (var (name, op) in Cases())
            VectorCase.Run(v, name, dtype, (x, _, _) => op(x));
    }

    [Test]
    public void NearestGradientsMatchCentralDifferences()
    {
        GradCheck.Check(t => F.UpsampleNearest(t[0], [7, 11]), [GradCheck.Input([2, 3, 3, 5])], what: "nearest 2-D up");
        GradCheck.Check(t => F.UpsampleNearest(t[0], [2, 3]), [GradCheck.Input([1, 2, 5, 7])], what: "nearest 2-D down");
        GradCheck.Check(t => F.UpsampleNearest(t[0], [4, 5, 7]), [GradCheck.Input([1, 2, 2, 3, 4])], what: "nearest 3-D");
    }

    [TestCase(false), TestCase(true)]
    public void LinearGradientsMatchCentralDifferences(bool alignCorners)
    {
        string ac = alignCorners ? " align_corners" : "";
        GradCheck.Check(t => F.UpsampleLinear(t[0], [7, 11], alignCorners), [GradCheck.Input([2, 3, 3, 5])], what: "bilinear up" + ac);
        GradCheck.Check(t => F.UpsampleLinear(t[0], [3, 4], alignCorners), [GradCheck.Input([1, 2, 5, 7])], what: "bilinear down" + ac);
        GradCheck.Check(t => F.UpsampleLinear(t[0], [4, 5, 7], alignCorners), [GradCheck.Input([1, 2, 2, 3, 4])], what: "trilinear up" + ac);
        GradCheck.Check(t => F.UpsampleLinear(t[0], [2, 2, 3], alignCorners), [GradCheck.Input([1, 1, 3, 4, 5])], what: "trilinear down" + ac);
    }

    [Test]
    public void AlignCornersKeepsTheCornerValues()
    {
        var x = GradCheck.Input([1, 1, 3, 4]).Detach();
        var y = F.UpsampleLinear(x, [7, 10], alignCorners: true).ToDoubles();
        var xs = x.ToDoubles();
        Assert.That(y[0], Is.EqualTo(xs[0]).Within(1e-12));
        Assert.That(y[9], Is.EqualTo(xs[3]).Within(1e-12));
        Assert.That(y[60], Is.EqualTo(xs[8]).Within(1e-12));
        Assert.That(y[69], Is.EqualTo(xs[11]).Within(1e-12));
    }

    [TestCase(DType.F32), TestCase(DType.F64)]
    public void KernelsWriteEveryOutputElement(DType dtype)
    {
        using var scope = TensorScope.Begin();
        var k = Device.Cpu.Kernels.Get<IUpsample>();
        foreach (var mode in new[] { UpsampleMode.Nearest, UpsampleMode.Linear })
            foreach (var (inS, outS) in new[] { (new[] { 1, 5, 7 }, new[] { 1, 9, 4 }), (new[] { 3, 4, 5 }, new[] { 5, 2, 7 }) })
            {
                var s = new UpsampleShape(2, 3, inS[0], inS[1], inS[2], outS[0], outS[1], outS[2], mode, false);
                var x = Tensor.Randn([2, 3, .. inS], dtype: dtype);
                var y = Tensor.Full([2, 3, .. outS], double.NaN, dtype);
                k.Forward(s, x.Buffer, y.Buffer);
                PoolTests.AssertFinite(y, $"{mode} forward {Shape.Format(outS)}");
                var dx = Tensor.Full(x.Shape, double.NaN, dtype);
                k.Backward(s, Tensor.Randn(y.Shape, dtype: dtype).Buffer, dx.Buffer);
                PoolTests.AssertFinite(dx, $"{mode} backward {Shape.Format(outS)}");
            }
    }

    [Test]
    public void BadArgumentsAreRejectedWithClearMessages()
    {
        var x4 = Tensor.Zeros([2, 3, 4, 5]);
        PoolTests.Expect(() => F.UpsampleNearest(Tensor.Zeros([2, 3]), [4]), "UpsampleNearest", "[2, 3]");
        PoolTests.Expect(() => F.UpsampleLinear(Tensor.Zeros([1, 1, 1, 2, 2, 2]), [4, 4, 4, 4]), "UpsampleLinear", "rank 6");
        PoolTests.Expect(() => F.UpsampleNearest(x4, [8, 8, 8]), "UpsampleNearest", "outSize [8, 8, 8]", "[2, 3, 4, 5]");
        PoolTests.Expect(() => F.UpsampleLinear(x4, [0, 8]), "UpsampleLinear", "outSize [0, 8]");
    }
}
